"""Loading a weights file into a torchreid backbone, refusing weights that do not fit.

torchreid's ``load_pretrained_weights`` silently drops every tensor whose name
or shape differs, so an OSNet checkpoint "loads" into a ResNet and a random
network is evaluated; its ``load_checkpoint`` also retries a file it cannot
decode with plain ``pickle``, turning ``weights_only`` off. :func:`load_weights`
reads with ``weights_only=True`` only, reports how many tensors matched, and
refuses the file unless every backbone tensor (all but the classifier, which
depends on the number of identities) matched, or ``allow_partial`` says a
partial load is intended; weights holding a NaN or an infinite value (a run that
diverged) are refused by it and by :func:`export_weights`.
"""
from __future__ import annotations

import glob
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from dal_torchreid.files.errors import RecordedWrites, default_file_mode, write_error

TEMPORARY_PREFIX, TEMPORARY_SUFFIX = '.tmp-', '.pth'  # a weights file being written


def save_checkpoint_atomic(state: dict, fpath: str) -> str:
    """Writes ``state`` to ``fpath`` through a temporary file and a rename; the file
    gets the permissions of any new file (``0o666`` less the umask). A failed write (a
    full disk) is a :class:`~dal_torchreid.files.errors.WriteError` naming ``fpath``."""
    dirname = os.path.dirname(os.path.abspath(fpath))
    os.makedirs(dirname, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TEMPORARY_PREFIX, suffix=TEMPORARY_SUFFIX, dir=dirname)
    try:
        os.fchmod(fd, default_file_mode())  # mkstemp's 0600 would hide it from the group
        f = os.fdopen(fd, 'wb')
        recorded = RecordedWrites(f)
        try:  # closing is inside: a full disk met by the last buffered bytes fails there
            with f:
                torch.save(state, recorded)
                f.flush()
                os.fsync(f.fileno())
        except (OSError, RuntimeError) as err:  # torch: "unexpected pos" for a full disk
            raise write_error(fpath, recorded.error or err) from err
        try:
            os.replace(tmp, fpath)
        except OSError as err:  # a directory in its place
            raise write_error(fpath, err) from err
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return fpath


def remove_stale_temporaries(dirname: str) -> list[str]:
    """Removes the temporary files that checkpoint writes killed mid-way left in
    ``dirname`` (never a checkpoint); returns their paths."""
    stale = sorted(glob.glob(os.path.join(glob.escape(dirname),
                                          f'{TEMPORARY_PREFIX}*{TEMPORARY_SUFFIX}')))
    for path in stale:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass
    if stale:
        print(f'Removed {len(stale)} unfinished checkpoint file(s) of an interrupted run '
              f'from "{dirname}"')
    return stale


ALLOW_PARTIAL_WEIGHTS = False  # every backbone tensor must come from the file
LOAD_EMA = True  # from a DAL checkpoint with an EMA, load the EMA: what its evaluation used
CLASSIFIER_PREFIX = 'classifier'  # torchreid's name for the identity classifier(s)


class WeightsError(ValueError):
    """A weights file that cannot be read, or does not fit the model (named in the message)."""


def _numpy_scalar_globals() -> list:
    """What a numpy scalar in a checkpoint unpickles with (torchreid stores rank-1 so):
    plain data, allowed alongside tensors."""
    core = getattr(np, '_core', None) or np.core
    dtypes = [type(np.dtype(t)) for t in (np.float64, np.float32, np.int64, np.int32)]
    return [core.multiarray.scalar, np.dtype, *dtypes]


def torch_load(fpath: str) -> Any:
    """``torch.load(fpath)`` on the CPU with ``weights_only=True`` (numpy scalars allowed
    where torch can allow them, 2.5 on); never falls back to unrestricted unpickling.
    Raises what ``torch.load`` raises."""
    safe_globals = getattr(torch.serialization, 'safe_globals', None)
    if safe_globals is None:
        return torch.load(fpath, map_location='cpu', weights_only=True)
    with safe_globals(_numpy_scalar_globals()):
        return torch.load(fpath, map_location='cpu', weights_only=True)


def load_error(err: BaseException) -> str:
    """One line of what went wrong in :func:`torch_load` (torch's messages run to pages)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    for line in lines:
        if line.startswith('WeightsUnpickler error:'):
            return line[len('WeightsUnpickler error:'):].strip().split('. ')[0] + \
                ' (not a weights-only file)'
    return f'{type(err).__name__}: {lines[0] if lines else "unreadable"}'


def _checkpoint_tensors(fpath: str, ema: bool) -> tuple[dict[str, Tensor], str]:
    """The tensors of a weights file and which ones they are: ``'EMA'`` (a DAL
    checkpoint's moving average, when ``ema`` and the file has one), ``'trained'``
    (a checkpoint's trained weights) or ``'file'`` (a bare state dict). A checkpoint of
    this version holds the EMA under ``'state_dict'`` and the trained weights under
    ``'trained_state_dict'``; an earlier one the trained weights under ``'state_dict'``
    and the EMA under ``'ema'['module']``."""
    try:
        state = torch_load(fpath)
    except FileNotFoundError as err:
        raise FileNotFoundError(f'weights file "{fpath}" does not exist') from err
    except Exception as err:
        raise WeightsError(f'weights file "{fpath}" cannot be loaded: {load_error(err)}') from err
    which = 'file'
    if isinstance(state, dict) and isinstance(state.get('trained_state_dict'), dict):
        state, which = ((state['state_dict'], 'EMA') if ema
                        else (state['trained_state_dict'], 'trained'))
    elif isinstance(state, dict) and isinstance(state.get('state_dict'), dict):
        average = state.get('ema')
        if ema and isinstance(average, dict) and isinstance(average.get('module'), dict):
            state, which = average['module'], 'EMA'
        else:
            state, which = state['state_dict'], 'trained'
    tensors = {k: v for k, v in state.items() if isinstance(v, Tensor)} \
        if isinstance(state, dict) else {}
    if not tensors:
        raise WeightsError(f'weights file "{fpath}" holds no state dict of tensors '
                           f'(found a {type(state).__name__})')
    return {k[len('module.'):] if k.startswith('module.') else k: v
            for k, v in tensors.items()}, which


def check_finite(tensors: dict[str, Tensor], fpath: str) -> None:
    """Raises :class:`WeightsError` naming ``fpath`` and its first tensor holding a NaN or
    an infinite value: weights of a run that diverged, which would give every feature
    NaN (or none)."""
    for name, tensor in tensors.items():
        if tensor.is_floating_point() or tensor.is_complex():
            bad = int((~torch.isfinite(tensor)).sum())
            if bad:
                raise WeightsError(
                    f'weights file "{fpath}" holds non-finite values (NaN or infinite): '
                    f'{bad} of the {tensor.numel()} values of tensor "{name}" (the run that '
                    'wrote it diverged); choose a checkpoint of an earlier epoch')


def read_state_dict(fpath: str, ema: bool = LOAD_EMA) -> dict[str, Tensor]:
    """The tensors of a weights file: a state dict, or a checkpoint holding one under
    ``'state_dict'``; a ``'module.'`` prefix (``DataParallel``) is dropped. From a DAL
    checkpoint that keeps an EMA of its weights (``train.ema``), the EMA's tensors,
    which its evaluation used, unless ``ema`` is False."""
    return _checkpoint_tensors(fpath, ema)[0]


def export_weights(fpath: str, out: str, ema: bool = LOAD_EMA) -> str:
    """Writes the weights of checkpoint ``fpath`` that its run evaluated (the EMA when it
    kept one, unless ``ema`` is False) to ``out`` as ``{'state_dict': tensors}``, the
    form torchreid's ``load_pretrained_weights`` and ``FeatureExtractor`` read, without
    optimiser or method state; returns ``out``. ``out`` must not be ``fpath``; weights
    holding a NaN or an infinite value are refused (:func:`check_finite`), nothing written.

    Examples::

        export_weights('log/dal/model/checkpoint-latest.pth.tar', 'dal_resnet50.pth')
        extractor = torchreid.utils.FeatureExtractor('resnet50', 'dal_resnet50.pth')
    """
    tensors, which = _checkpoint_tensors(fpath, ema)
    check_finite(tensors, fpath)
    if os.path.exists(out) and os.path.samefile(fpath, out):
        raise WeightsError(f'export of "{fpath}" would overwrite it: name another file')
    save_checkpoint_atomic({'state_dict': tensors}, out)
    what = {'EMA': 'its EMA weights, which its evaluation used', 'trained': 'its trained weights',
            'file': 'its weights'}[which]
    print(f'Exported {what} ({len(tensors)} tensors) from "{fpath}" to "{out}"')
    return out


def is_classifier_key(key: str) -> bool:
    """Whether ``key`` belongs to the identity classifier (``classifier``, ``classifier_global``, ...)."""
    return key.split('.', 1)[0].startswith(CLASSIFIER_PREFIX)


@dataclass
class WeightsReport:
    """What :func:`load_weights` took from a file.

    Args:
        backbone (list): the model's backbone tensors (all but the classifier and
            BatchNorm's ``num_batches_tracked`` counters).
        loaded (list): the model's tensors set from the file.
        missing (list): backbone tensors the file does not hold.
        mismatched (dict): backbone tensors the file holds with another shape:
            name -> (shape in the file, shape in the model).

    Examples::

        report = load_weights(model, 'log/dal/model/model.pth.tar-20')
        print(report.summary())
    """

    backbone: list[str]
    loaded: list[str]
    missing: list[str] = field(default_factory=list)
    mismatched: dict[str, tuple[list[int], list[int]]] = field(default_factory=dict)

    @property
    def backbone_loaded(self) -> int:
        return len(self.backbone) - len(self.missing) - len(self.mismatched)

    @property
    def complete(self) -> bool:
        return not self.missing and not self.mismatched

    @property
    def classifier_loaded(self) -> int:
        """Classifier tensors set from the file (BatchNorm counters are neither kind)."""
        return sum(is_classifier_key(k) for k in self.loaded)

    def summary(self) -> str:
        classifier = self.classifier_loaded
        return (f'{self.backbone_loaded} of {len(self.backbone)} backbone tensors matched'
                f'{f", and {classifier} classifier tensors" if classifier else ""}')

    def __repr__(self) -> str:  # the tensor lists run to thousands of names
        return f'WeightsReport({self.summary()}; {self.examples() or "complete"})'

    def examples(self) -> str:
        parts = [f'"{k}" missing' for k in self.missing[:2]]
        parts += [f'"{k}" is {list(a)} in the file, {list(b)} in the model'
                  for k, (a, b) in list(self.mismatched.items())[:2]]
        return '; '.join(parts)


def load_weights(model: nn.Module, fpath: str, allow_partial: bool = ALLOW_PARTIAL_WEIGHTS,
                 ema: bool = LOAD_EMA) -> WeightsReport:
    """Loads the tensors of ``fpath`` whose name and shape fit ``model``: from a DAL
    checkpoint with an EMA, the EMA's weights (what the run evaluated) unless
    ``ema`` is False (then the trained weights, ``'state_dict'``).

    Unless ``allow_partial``, raises :class:`WeightsError` naming the file when a
    backbone tensor is missing from it or has another shape there (the model is
    then left as it was), and always when a tensor holds a NaN or an infinite value;
    the classifier is loaded when it fits and kept as initialised otherwise. Prints how
    many tensors matched.

    Examples::

        model = torchreid.models.build_model('resnet50', num_classes=1, pretrained=False)
        load_weights(model, 'log/dal-resnet50-prid2011/model/model.pth.tar-20')
    """
    state, which = _checkpoint_tensors(fpath, ema)
    check_finite(state, fpath)
    own = model.state_dict()
    backbone = [k for k in own if not is_classifier_key(k)
                and not k.endswith('num_batches_tracked')]
    fits = {k: v for k, v in state.items() if k in own and v.shape == own[k].shape}
    report = WeightsReport(
        backbone=backbone, loaded=list(fits),
        missing=[k for k in backbone if k not in state],
        mismatched={k: (list(state[k].shape), list(own[k].shape)) for k in backbone
                    if k in state and k not in fits})
    if not report.complete and not allow_partial:
        raise WeightsError(
            f'weights file "{fpath}" does not fit {type(model).__name__}: {report.summary()} '
            f'({report.examples()}); set model.allow_partial_weights True to accept a '
            'partial load')
    model.load_state_dict(fits, strict=False)
    what = {'EMA': ' (its EMA weights, which its evaluation used)',
            'trained': ' (its trained weights)', 'file': ''}[which]
    print(f'Loaded weights from "{fpath}"{what}: {report.summary()}')
    if not report.complete:
        print(f'** partial load: {report.examples()} (kept as initialised)')
    return report
