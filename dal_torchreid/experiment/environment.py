"""What a run ran on: package versions for ``results.json``, and the one line a run prints
when it starts (as torchreid's ``scripts/main.py`` prints its environment).

torchreid warns at import that its Cython rank evaluation is not built; importing the plugin
silences that warning (it came twice per command), and :func:`environment_line` says instead
which evaluation runs: torchreid's Python ranking, which gives the same numbers, slower.

Examples::

    print(environment_line())
    record['versions'] = package_versions()
"""
from __future__ import annotations

import platform
from importlib import metadata

import torch

def package_versions() -> dict[str, str]:
    """Versions of python, torch, torchvision, torchreid and this plugin."""
    versions = {'python': platform.python_version(), 'torch': torch.__version__}
    for name, dist in (('torchvision', 'torchvision'), ('torchreid', 'torchreid'),
                       ('dal_torchreid', 'dal-torchreid')):
        try:
            versions[name] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[name] = 'not installed'
    return versions


def rank_evaluation() -> str:
    """Which rank evaluation torchreid runs: its Cython extension or its Python code."""
    import torchreid
    cython = getattr(torchreid.metrics.rank, 'IS_CYTHON_AVAI', False)
    return ("torchreid's Cython ranking" if cython else
            "torchreid's Python ranking (its Cython extension is not built: the same "
            'numbers, slower)')


def environment_line() -> str:
    """One line: versions, device and threads, and which rank evaluation runs."""
    versions = ', '.join(f'{k} {v}' for k, v in package_versions().items())
    device = (f'CUDA {torch.cuda.get_device_name(0)}' if torch.cuda.is_available() else
              f'CPU, {torch.get_num_threads()} threads')
    return f'=> environment: {versions}; {device}; rank evaluation: {rank_evaluation()}'
