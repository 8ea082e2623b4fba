"""DAL checkpoints: atomic, ``weights_only``-loadable, with anchors and RNG states.

torchreid's own checkpoints store rank-1 as a numpy float, which torch's default
``weights_only=True`` refuses to load; these hold only tensors and Python
scalars, and are written to a temporary file that is renamed into place, so a
run killed mid-write never leaves a truncated checkpoint behind.
"""
from __future__ import annotations

import hashlib
import os
import random
import tempfile

import numpy as np
import torch


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


def save_checkpoint_atomic(state: dict, fpath: str) -> str:
    """Writes ``state`` to ``fpath`` through a temporary file and a rename."""
    dirname = os.path.dirname(os.path.abspath(fpath))
    os.makedirs(dirname, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.tmp-', suffix='.pth', dir=dirname)
    try:
        with os.fdopen(fd, 'wb') as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, fpath)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return fpath


def load_checkpoint(fpath: str) -> dict:
    """Loads a DAL checkpoint on the CPU with ``weights_only=True``."""
    if not os.path.isfile(fpath):
        raise FileNotFoundError('checkpoint "{}" does not exist'.format(fpath))
    try:
        return torch.load(fpath, map_location='cpu', weights_only=True)
    except Exception as err:
        raise CheckpointError(f'cannot load checkpoint "{fpath}": {err}') from err


def training_set_fingerprint(tracklet_paths, tracklet_camera) -> str:
    """A short hash of the training tracklets (their first frames' last two path parts,
    and cameras), so a checkpoint names the split and data set its anchors belong to,
    whatever the data root is."""
    digest = hashlib.sha1()
    for paths, camera in zip(tracklet_paths, tracklet_camera):
        first = os.path.normpath(paths[0]).split(os.sep)[-2:]
        digest.update(f'{"/".join(first)}:{camera};'.encode())
    return digest.hexdigest()[:16]


def checkpoint_meta(trainset, model, feature_dim: int) -> dict:
    """What a DAL checkpoint's anchors belong to: the training set (and split), its
    tracklets per camera, the backbone and the feature dimension."""
    return {
        'training_set': training_set_fingerprint(trainset.tracklet_paths, trainset.tracklet_camera),
        'tracklets_per_camera': list(trainset.tracklets_per_camera),
        'backbone': type(model).__name__,
        'feature_dim': int(feature_dim),
    }


def pack_dal_checkpoint(*, model, optimizer, scheduler, criterion, ema, scaler, epoch: int,
                        rank1: float | None, meta: dict) -> dict:
    """Everything a DAL run needs to continue: weights, optimiser, scheduler, anchors,
    EMA, gradient scaler, epoch, random states, and ``meta`` (what the anchors belong to)."""
    return {
        'state_dict': model.state_dict(),
        'epoch': epoch,
        'rank1': None if rank1 is None else float(rank1),
        'optimizer': optimizer.state_dict(),
        'scheduler': None if scheduler is None else scheduler.state_dict(),
        'dal': criterion.state_dict(),
        'ema': None if ema is None else ema.state_dict(),
        'scaler': scaler.state_dict(),
        'rng': capture_rng_states(),
        'meta': dict(meta),
    }


def unpack_dal_checkpoint(fpath: str, *, model, optimizer, scheduler, criterion, ema, scaler,
                          meta: dict) -> int:
    """Restores what :func:`pack_dal_checkpoint` saved into the given parts; returns the epoch.

    Refuses a file that is not a DAL checkpoint, or whose ``meta`` (training set,
    tracklets per camera, backbone, feature dimension) differs from ``meta``,
    naming both sides.
    """
    state = load_checkpoint(fpath)
    missing = [k for k in ('state_dict', 'epoch', 'optimizer', 'dal') if k not in state]
    if missing:
        raise CheckpointError(f'checkpoint "{fpath}" is not a DAL checkpoint: missing {missing}')
    saved = state.get('meta') or {}
    for key, value in meta.items():
        if key in saved and saved[key] != value:
            raise CheckpointError(f'checkpoint "{fpath}" was written for {key} {saved[key]!r}, '
                                  f'this run has {key} {value!r}')
    try:
        model.load_state_dict(state['state_dict'])
        criterion.load_state_dict(state['dal'])
    except RuntimeError as err:
        raise CheckpointError(f'checkpoint "{fpath}" does not fit this model or its anchors: '
                              f'{str(err).splitlines()[0]}') from err
    optimizer.load_state_dict(state['optimizer'])
    if scheduler is not None and state.get('scheduler') is not None:
        scheduler.load_state_dict(state['scheduler'])
    if ema is not None:
        if state.get('ema') is None:
            raise CheckpointError(f'checkpoint "{fpath}" holds no EMA weights, but this engine '
                                  f'keeps an EMA (ema_decay={ema.decay})')
        ema.load_state_dict(state['ema'])
    if state.get('scaler'):
        scaler.load_state_dict(state['scaler'])
    if 'rng' in state:
        restore_rng_states(state['rng'])
    return int(state['epoch'])


class DALCheckpointer:
    """Writes and restores one DAL run's checkpoints (rank 0 writes; every rank restores).

    Args:
        parts (dict): ``model`` (unwrapped), ``optimizer``, ``scheduler``,
            ``criterion``, ``ema``, ``scaler`` and ``meta``, as
            :func:`pack_dal_checkpoint` takes them.

    Examples::

        checkpointer = DALCheckpointer(dict(model=model, optimizer=optimizer, ...))
        checkpointer.write('log/dal', 'checkpoint-latest.pth.tar', epoch=3, rank1=None)
        start_epoch = checkpointer.resume('log/dal/model/checkpoint-latest.pth.tar')
    """

    def __init__(self, parts: dict) -> None:
        self.parts = parts

    def write(self, save_dir: str, name: str, epoch: int, rank1: float | None,
              is_main: bool = True) -> str | None:
        """Writes ``save_dir/model/name`` atomically; returns its path (None off rank 0)."""
        if not is_main:
            return None
        fpath = os.path.join(save_dir, 'model', name)
        save_checkpoint_atomic(pack_dal_checkpoint(epoch=epoch, rank1=rank1, **self.parts), fpath)
        print(f'Checkpoint saved to "{fpath}"')
        return fpath

    def resume(self, fpath: str) -> int:
        """Restores every part from ``fpath``; returns the epoch it was written after."""
        epoch = unpack_dal_checkpoint(fpath, **self.parts)
        print(f'Resumed from "{fpath}" (epoch {epoch})')
        return epoch
