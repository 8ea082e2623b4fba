"""Unsupervised engines' checkpoints: atomic, ``weights_only``-loadable, with the method's
state (DAL's anchors, Cluster Contrast's memory and pseudo-labels) and RNG states.

In every file, ``state_dict`` holds the weights the run evaluates: the moving average
when the engine keeps an EMA (``train.ema``), whose trained weights are then under
``trained_state_dict``; so torchreid's ``FeatureExtractor`` and
``load_pretrained_weights`` get what the run scored. Only ``checkpoint-latest.pth.tar``
is resumable (optimiser, scheduler, the method's state, gradient scaler, RNG states);
the per-epoch ``model.pth.tar-N`` and ``model-best.pth.tar`` keep the weights, the
epoch, rank-1 and what the weights belong to (``meta``), a fraction of the size.

torchreid's own checkpoints store rank-1 as a numpy float, which torch's default
``weights_only=True`` refuses to load; these hold only tensors and Python
scalars, and are written to a temporary file that is renamed into place, so a
run killed mid-write never leaves a truncated checkpoint behind (the temporary
files such a run leaves are removed when the next run starts). Every file is
read with ``weights_only=True`` only, torchreid's supervised checkpoints
included (:func:`resume_checkpoint`); a file that cannot be used is one
:class:`CheckpointError` line naming it.
"""
from __future__ import annotations

import hashlib
import os
import random
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from dal_torchreid.models.weights import (
    load_error, remove_stale_temporaries, save_checkpoint_atomic, torch_load
)

MODEL_DIR = 'model'  # a run's checkpoints, under its save_dir
LATEST_CHECKPOINT = 'checkpoint-latest.pth.tar'  # the label-free engines', after every epoch


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used for this run (named in the message)."""


def capture_rng_states() -> dict:
    """Python, numpy, torch (and CUDA) random states, as tensors and plain values."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    states = {
        'python': random.getstate(),
        'numpy': (name, torch.from_numpy(keys.astype(np.int64)), int(pos),
                  int(has_gauss), float(cached)),
        'torch': torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        states['cuda'] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict) -> None:
    """Inverse of :func:`capture_rng_states`."""
    random.setstate(states['python'])
    name, keys, pos, has_gauss, cached = states['numpy']
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(states['torch'])
    if 'cuda' in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states['cuda'])


def load_checkpoint(fpath: str) -> dict:
    """Loads a checkpoint on the CPU with ``weights_only=True`` (never without): a dict,
    or :class:`CheckpointError` in one line naming the file."""
    if not os.path.isfile(fpath):
        raise FileNotFoundError(f'checkpoint "{fpath}" does not exist')
    try:
        state = torch_load(fpath)
    except Exception as err:
        raise CheckpointError(f'cannot load checkpoint "{fpath}": {load_error(err)}') from err
    if not isinstance(state, dict):
        raise CheckpointError(f'checkpoint "{fpath}" holds a {type(state).__name__}, '
                              'not a checkpoint dict')
    return state


def _fit_error(fpath: str, what: str, err: Exception) -> CheckpointError:
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return CheckpointError(f'checkpoint "{fpath}" does not fit this {what}: {first}')


def checkpoint_epoch(fpath: str, state: dict) -> int:
    """The epoch ``state`` (loaded from ``fpath``) was written after: a whole number
    ``>= 0``, or :class:`CheckpointError` naming the file and the value."""
    epoch = state['epoch']
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise CheckpointError(f'checkpoint "{fpath}" holds epoch {epoch!r}; an epoch is a whole '
                              'number >= 0')
    return epoch


def resume_checkpoint(fpath: str, model, optimizer=None, scheduler=None) -> int:
    """Restores a torchreid checkpoint (``state_dict``, ``epoch``, optionally
    ``optimizer`` and ``scheduler``, as torchreid's engines save them) into the given
    parts and returns its epoch: torchreid's ``resume_from_checkpoint``, but loading
    with ``weights_only=True`` only and failing in one line naming the file.

    Examples::

        start_epoch = resume_checkpoint('log/softmax/model/model.pth.tar-10', model,
                                        optimizer, scheduler)
    """
    state = load_checkpoint(fpath)
    missing = [k for k in ('state_dict', 'epoch') if k not in state]
    if missing:
        raise CheckpointError(f'checkpoint "{fpath}" is not a torchreid checkpoint: '
                              f'missing {missing}')
    epoch = checkpoint_epoch(fpath, state)
    try:
        model.load_state_dict(state['state_dict'])
    except RuntimeError as err:
        raise _fit_error(fpath, f'model ({type(model).__name__})', err) from err
    try:
        if optimizer is not None and state.get('optimizer') is not None:
            optimizer.load_state_dict(state['optimizer'])
        if scheduler is not None and state.get('scheduler') is not None:
            scheduler.load_state_dict(state['scheduler'])
    except (ValueError, KeyError, RuntimeError) as err:
        raise _fit_error(fpath, 'optimizer or scheduler', err) from err
    print(f'Resumed from "{fpath}" (epoch {epoch})')
    return epoch


def training_set_fingerprint(tracklet_paths, tracklet_camera) -> str:
    """A short hash of the training tracklets (their first frames' last two path parts,
    and cameras), so a checkpoint names the split and data set its anchors belong to,
    whatever the data root is."""
    digest = hashlib.sha1()
    for paths, camera in zip(tracklet_paths, tracklet_camera):
        first = os.path.normpath(paths[0]).split(os.sep)[-2:]
        digest.update(f'{"/".join(first)}:{camera};'.encode())
    return digest.hexdigest()[:16]


def checkpoint_meta(trainset, model, feature_dim: int, sources=()) -> dict:
    """What a checkpoint's method state belongs to: the source data sets, the training set
    (data set and split), its tracklets per camera, the backbone and the feature
    dimension."""
    return {
        'sources': list(sources),
        'training_set': training_set_fingerprint(trainset.tracklet_paths, trainset.tracklet_camera),
        'tracklets_per_camera': list(trainset.tracklets_per_camera),
        'backbone': type(model).__name__,
        'feature_dim': int(feature_dim),
    }


# The key of each method's state (its criterion's state dict) in a checkpoint, its name,
# and what that state is.
METHOD_NAMES = {'dal': 'DAL', 'cc': 'Cluster Contrast'}
METHOD_STATES = {'dal': 'anchors', 'cc': 'cluster memory'}


RESUMABLE_KEYS = ('optimizer', 'scheduler', 'scaler', 'rng', 'progress')  # + the method's


def checkpoint_weights(state: dict) -> tuple[dict, dict | None]:
    """``(trained weights, EMA state or None)`` of a checkpoint of either layout: this
    version's (``state_dict`` the EMA, ``trained_state_dict`` the trained weights) or an
    earlier one's (``state_dict`` trained, the EMA under ``ema['module']``)."""
    ema = state.get('ema')
    if 'trained_state_dict' in state:
        return state['trained_state_dict'], dict(ema or {}, module=state['state_dict'])
    return state['state_dict'], ema


@dataclass
class CheckpointParts:
    """What one run's checkpoints hold and restore.

    Args:
        model (nn.Module): the unwrapped model.
        optimizer, scheduler: torch's (``scheduler`` may be None).
        criterion: the method's loss, whose ``state_dict`` is its state (anchors, memory).
        ema: the kept moving average (``AveragedModel``), or None.
        scaler: the gradient scaler.
        meta (dict): what the state belongs to (:func:`checkpoint_meta`).
        method (str): ``'dal'`` or ``'cc'``: the key of the criterion's state, and what a
            checkpoint of another method is refused as.
    """

    model: Any
    optimizer: Any
    scheduler: Any
    criterion: Any
    ema: Any
    scaler: Any
    meta: dict
    method: str = 'dal'

    def __post_init__(self):
        if self.method not in METHOD_NAMES:
            raise ValueError(f'method must be one of {list(METHOD_NAMES)}, got {self.method!r}')


def pack_checkpoint(parts: CheckpointParts, epoch: int, rank1: float | None,
                    progress: dict | None = None, resumable: bool = True) -> dict:
    """The weights (``state_dict``: the EMA's when kept, the trained ones then under
    ``trained_state_dict``), epoch, rank-1 and ``meta`` (what the method's state and
    weights belong to); when ``resumable``, also everything a run needs to continue:
    optimiser, scheduler, the method's state (``criterion``'s, under the key
    ``method``), gradient scaler, random states and ``progress`` (what the run has
    recorded so far: frames seen, per-epoch diagnostics)."""
    p = parts
    state = {
        'state_dict': p.model.state_dict() if p.ema is None else p.ema.module.state_dict(),
        'epoch': epoch,
        'rank1': None if rank1 is None else float(rank1),
        'ema': None if p.ema is None else {'num_updates': p.ema.num_updates,
                                           'decay': p.ema.decay},
        'meta': dict(p.meta),
    }
    if p.ema is not None:
        state['trained_state_dict'] = p.model.state_dict()
    if resumable:
        state.update({
            'progress': dict(progress or {}),
            'optimizer': p.optimizer.state_dict(),
            'scheduler': None if p.scheduler is None else p.scheduler.state_dict(),
            p.method: p.criterion.state_dict(),
            'scaler': p.scaler.state_dict(),
            'rng': capture_rng_states(),
        })
    return state


def _meta_problem(saved, meta: dict) -> str | None:
    """Why a checkpoint's ``meta`` cannot say what its state belongs to (None if it can)."""
    if not isinstance(saved, dict):
        return 'no meta' if saved is None else f'its meta is a {type(saved).__name__}'
    missing = [key for key in meta if key not in saved]
    if missing:
        return f'its meta lacks {missing}'
    if not isinstance(saved.get('training_set'), str) or not saved['training_set']:
        return f'its meta has training_set {saved.get("training_set")!r}'
    return None


def unpack_checkpoint(fpath: str, parts: CheckpointParts, evaluation: bool = False) -> int:
    """Restores what :func:`pack_checkpoint` saved into ``parts``; returns the epoch.

    Refuses a file that is not a checkpoint of ``parts.method``, or whose ``meta``
    (sources, training set, tracklets per camera, backbone, feature dimension) differs
    from ``parts.meta``, naming both sides. With ``evaluation``, restores the weights and
    EMA only, so a per-epoch file (not resumable) serves too.
    """
    return restore_checkpoint(load_checkpoint(fpath), fpath, parts, evaluation)


def restore_checkpoint(state: dict, fpath: str, parts: CheckpointParts,
                       evaluation: bool = False) -> int:
    """:func:`unpack_checkpoint` of the already loaded ``state`` of ``fpath``."""
    method, meta, ema = parts.method, parts.meta, parts.ema
    needed = ('state_dict', 'epoch') if evaluation else ('state_dict', 'epoch', 'optimizer',
                                                         method)
    missing = [k for k in needed if k not in state]
    if missing == ['optimizer', method] and isinstance(state.get('meta'), dict):
        latest = os.path.join(os.path.dirname(fpath), LATEST_CHECKPOINT)
        raise CheckpointError(
            f'checkpoint "{fpath}" holds weights only (a per-epoch file, without optimiser or '
            f'{METHOD_STATES[method]}): resume training from "{latest}", evaluate it with '
            'test.evaluate True, or start from its weights with model.load_weights')
    if missing:
        raise CheckpointError(f'checkpoint "{fpath}" is not a {METHOD_NAMES[method]} checkpoint: '
                              f'missing {missing}')
    epoch = checkpoint_epoch(fpath, state)
    saved = state.get('meta')
    found = _meta_problem(saved, meta)
    if found:
        raise CheckpointError(
            f'checkpoint "{fpath}" holds no valid record of the training set it was written '
            f'for ({found}), so it cannot be matched to this run\'s data set, split and '
            f'backbone; resume from a {METHOD_NAMES[method]} checkpoint this version wrote')
    for key, value in meta.items():
        if saved[key] != value:
            what = ' (another data set or split)' if key == 'training_set' else ''
            raise CheckpointError(f'checkpoint "{fpath}" was written for {key} {saved[key]!r}'
                                  f'{what}, this run has {key} {value!r}')
    trained, average = checkpoint_weights(state)
    if ema is not None and average is None:
        raise CheckpointError(f'checkpoint "{fpath}" holds no EMA weights, but this engine '
                              f'keeps an EMA (ema_decay={ema.decay})')
    try:
        parts.model.load_state_dict(trained)
        if ema is not None:
            ema.load_state_dict(average)
        if not evaluation:
            parts.criterion.load_state_dict(state[method])
    except RuntimeError as err:
        raise _fit_error(fpath, f'model or its {METHOD_STATES[method]}', err) from err
    if evaluation:
        return epoch
    try:
        parts.optimizer.load_state_dict(state['optimizer'])
        if parts.scheduler is not None and state.get('scheduler') is not None:
            parts.scheduler.load_state_dict(state['scheduler'])
    except (ValueError, KeyError, RuntimeError) as err:
        raise _fit_error(fpath, 'optimizer or scheduler', err) from err
    if state.get('scaler'):
        parts.scaler.load_state_dict(state['scaler'])
    if 'rng' in state:
        restore_rng_states(state['rng'])
    return epoch


class Checkpointer:
    """Writes and restores one run's checkpoints (rank 0 writes; every rank restores).

    Args:
        parts (CheckpointParts): what the checkpoints hold, and the engine's method.

    Examples::

        checkpointer = Checkpointer(CheckpointParts(model, optimizer, ..., method='dal'))
        checkpointer.write('log/dal', 'checkpoint-latest.pth.tar', epoch=3, rank1=None)
        start_epoch = checkpointer.resume('log/dal/model/checkpoint-latest.pth.tar')
    """

    def __init__(self, parts: CheckpointParts) -> None:
        self.parts, self.method = parts, parts.method
        self.progress: dict = {}  # what the checkpoint last resumed had recorded

    def start(self, save_dir: str, is_main: bool = True) -> None:
        """Before a run writes to ``save_dir``: rank 0 removes the unfinished checkpoint
        files a killed run left in ``save_dir/model``."""
        if is_main:
            remove_stale_temporaries(os.path.join(save_dir, MODEL_DIR))

    def write(self, save_dir: str, name: str, epoch: int, rank1: float | None,
              is_main: bool = True, progress: dict | None = None,
              resumable: bool = True) -> str | None:
        """Writes ``save_dir/model/name`` atomically (with what resuming needs when
        ``resumable``, else the weights only); returns its path (None off rank 0)."""
        if not is_main:
            return None
        fpath = os.path.join(save_dir, MODEL_DIR, name)
        save_checkpoint_atomic(pack_checkpoint(self.parts, epoch, rank1, progress, resumable),
                               fpath)
        print(f'Checkpoint saved to "{fpath}"')
        return fpath

    def resume(self, fpath: str, evaluation: bool = False) -> int:
        """Restores every part from ``fpath`` (the weights and EMA only, for
        ``evaluation``); returns the epoch it was written after."""
        state = load_checkpoint(fpath)
        epoch = restore_checkpoint(state, fpath, self.parts, evaluation)
        self.progress = {} if evaluation else checkpoint_progress(state, fpath)
        print(f'{"Loaded" if evaluation else "Resumed from"} "{fpath}" (epoch {epoch})')
        return epoch


def checkpoint_progress(state: dict, fpath: str) -> dict:
    """The ``progress`` a checkpoint recorded (``frames_seen``, ``history``); empty, with a
    warning, for one written before checkpoints kept it, or whose record is not usable."""
    progress = state.get('progress')
    frames = progress.get('frames_seen') if isinstance(progress, dict) else None
    history = progress.get('history', {}) if isinstance(progress, dict) else None
    if (isinstance(frames, int) and frames >= 0 and isinstance(history, dict) and
            all(isinstance(h, list) and all(isinstance(e, dict) for e in h)
                for h in history.values())):
        return {'frames_seen': frames, 'history': history}
    warnings.warn(f'checkpoint "{fpath}" holds no usable record of the frames and diagnostics '
                  'of the epochs before it: results.json counts those of this run only')
    return {}
