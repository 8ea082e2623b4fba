"""DAL checkpoints: atomic, ``weights_only``-loadable, with anchors and RNG states.

torchreid's own checkpoints store rank-1 as a numpy float, which torch's default
``weights_only=True`` refuses to load; these hold only tensors and Python
scalars, and are written to a temporary file that is renamed into place, so a
run killed mid-write never leaves a truncated checkpoint behind.
"""
from __future__ import annotations

import os
import random
import tempfile

import numpy as np
import torch


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
        raise RuntimeError('cannot load checkpoint "{}": {}'.format(fpath, err)) from err
