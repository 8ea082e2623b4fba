"""Unsupervised engines' checkpoints: atomic, ``weights_only``-loadable, with the method's
state (DAL's anchors, Cluster Contrast's memory and pseudo-labels) and RNG states.

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

import numpy as np
import torch

from dal_torchreid.models.weights import (
    load_error, remove_stale_temporaries, save_checkpoint_atomic, torch_load
)



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


def pack_checkpoint(*, model, optimizer, scheduler, criterion, ema, scaler, epoch: int,
                    rank1: float | None, meta: dict, method: str = 'dal',
                    progress: dict | None = None) -> dict:
    """Everything a run needs to continue: weights, optimiser, scheduler, the method's state
    (``criterion``'s, under the key ``method``), EMA, gradient scaler, epoch, random
    states, ``meta`` (what that state belongs to) and ``progress`` (what the run has
    recorded so far: frames seen, per-epoch diagnostics)."""
    return {
        'progress': dict(progress or {}),
        'state_dict': model.state_dict(),
        'epoch': epoch,
        'rank1': None if rank1 is None else float(rank1),
        'optimizer': optimizer.state_dict(),
        'scheduler': None if scheduler is None else scheduler.state_dict(),
        method: criterion.state_dict(),
        'ema': None if ema is None else ema.state_dict(),
        'scaler': scaler.state_dict(),
        'rng': capture_rng_states(),
        'meta': dict(meta),
    }


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


def unpack_checkpoint(fpath: str, *, model, optimizer, scheduler, criterion, ema, scaler,
                      meta: dict, method: str = 'dal') -> int:
    """Restores what :func:`pack_checkpoint` saved into the given parts; returns the epoch.

    Refuses a file that is not a checkpoint of ``method``, or whose ``meta`` (sources,
    training set, tracklets per camera, backbone, feature dimension) differs from
    ``meta``, naming both sides.
    """
    return restore_checkpoint(load_checkpoint(fpath), fpath, model=model, optimizer=optimizer,
                              scheduler=scheduler, criterion=criterion, ema=ema, scaler=scaler,
                              meta=meta, method=method)


def restore_checkpoint(state: dict, fpath: str, *, model, optimizer, scheduler, criterion, ema,
                       scaler, meta: dict, method: str = 'dal') -> int:
    """:func:`unpack_checkpoint` of the already loaded ``state`` of ``fpath``."""
    missing = [k for k in ('state_dict', 'epoch', 'optimizer', method) if k not in state]
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
    try:
        model.load_state_dict(state['state_dict'])
        criterion.load_state_dict(state[method])
    except RuntimeError as err:
        raise _fit_error(fpath, f'model or its {METHOD_STATES[method]}', err) from err
    try:
        optimizer.load_state_dict(state['optimizer'])
        if scheduler is not None and state.get('scheduler') is not None:
            scheduler.load_state_dict(state['scheduler'])
    except (ValueError, KeyError, RuntimeError) as err:
        raise _fit_error(fpath, 'optimizer or scheduler', err) from err
    if ema is not None:
        if state.get('ema') is None:
            raise CheckpointError(f'checkpoint "{fpath}" holds no EMA weights, but this engine '
                                  f'keeps an EMA (ema_decay={ema.decay})')
        ema.load_state_dict(state['ema'])
    if state.get('scaler'):
        scaler.load_state_dict(state['scaler'])
    if 'rng' in state:
        restore_rng_states(state['rng'])
    return epoch


class Checkpointer:
    """Writes and restores one run's checkpoints (rank 0 writes; every rank restores).

    Args:
        parts (dict): ``model`` (unwrapped), ``optimizer``, ``scheduler``,
            ``criterion``, ``ema``, ``scaler`` and ``meta``, as
            :func:`pack_checkpoint` takes them.
        method (str, optional): the engine's method, ``'dal'`` or ``'cc'``: the key of
            the criterion's state, and what a checkpoint of another method is refused as.

    Examples::

        checkpointer = Checkpointer(dict(model=model, optimizer=optimizer, ...), 'dal')
        checkpointer.write('log/dal', 'checkpoint-latest.pth.tar', epoch=3, rank1=None)
        start_epoch = checkpointer.resume('log/dal/model/checkpoint-latest.pth.tar')
    """

    def __init__(self, parts: dict, method: str = 'dal') -> None:
        if method not in METHOD_NAMES:
            raise ValueError(f'method must be one of {list(METHOD_NAMES)}, got {method!r}')
        self.parts, self.method = parts, method
        self.progress: dict = {}  # what the checkpoint last resumed had recorded

    def start(self, save_dir: str, is_main: bool = True) -> None:
        """Before a run writes to ``save_dir``: rank 0 removes the unfinished checkpoint
        files a killed run left in ``save_dir/model``."""
        if is_main:
            remove_stale_temporaries(os.path.join(save_dir, 'model'))

    def write(self, save_dir: str, name: str, epoch: int, rank1: float | None,
              is_main: bool = True, progress: dict | None = None) -> str | None:
        """Writes ``save_dir/model/name`` atomically; returns its path (None off rank 0)."""
        if not is_main:
            return None
        fpath = os.path.join(save_dir, 'model', name)
        save_checkpoint_atomic(pack_checkpoint(epoch=epoch, rank1=rank1, method=self.method,
                                               progress=progress, **self.parts), fpath)
        print(f'Checkpoint saved to "{fpath}"')
        return fpath

    def resume(self, fpath: str) -> int:
        """Restores every part from ``fpath``; returns the epoch it was written after."""
        state = load_checkpoint(fpath)
        epoch = restore_checkpoint(state, fpath, method=self.method, **self.parts)
        self.progress = checkpoint_progress(state, fpath)
        print(f'Resumed from "{fpath}" (epoch {epoch})')
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
