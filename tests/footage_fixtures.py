"""Session fixtures of the own-footage tests: tiny synthetic footage, its tracklets; and
``tree``, every file of a folder by content."""
import hashlib
import os
import os.path as osp

import pytest

from dal_torchreid.footage import TrackletSettings, make_tracklets
from dal_torchreid.data.synthetic.footage import FootageConfig, make_synthetic_footage

TINY_FOOTAGE = FootageConfig(people=8, cameras=3, frames=90, height=96, width=128,
                             crossing_frames=(20, 36), revisit=0.4, fragment=0.5, seed=1)
TINY_SETTINGS = TrackletSettings(min_conf=0.5, min_height=16, min_width=6, min_length=4,
                                 max_frames=8)


@pytest.fixture(scope='session')
def tiny_footage(tmp_path_factory):
    """``(footage folder, tracks folder, info)`` of TINY_FOOTAGE: 3 cameras, 90 frames of
    96x128, ground truth and a simulated tracker's output."""
    base = tmp_path_factory.mktemp('tiny-footage')
    footage, tracks = str(base / 'footage'), str(base / 'tracks')
    info = make_synthetic_footage(footage, tracks, TINY_FOOTAGE)
    return footage, tracks, info


@pytest.fixture(scope='session')
def tiny_tracklets(tiny_footage, tmp_path_factory):
    """``(root, name)`` of the tracklet data set cut from ``tiny_footage``."""
    root = str(tmp_path_factory.mktemp('tiny-tracklets'))
    footage, tracks, _ = tiny_footage
    make_tracklets(footage, tracks, root, 'tinyfoot', TINY_SETTINGS, stream=open(osp.devnull, 'w'))
    return root, 'tinyfoot'


@pytest.fixture(autouse=True)
def forget_footage_datasets():
    """Footage data sets registered by a test leave torchreid's registry afterwards, so the
    lists other tests compare (docs/config.md's accepted names) stay torchreid's."""
    import torchreid
    from dal_torchreid.footage.dataset import FootageTrackletDataset
    yield
    registry = vars(torchreid.data.datasets)['__video_datasets']
    for name in [n for n, cls in registry.items()
                 if isinstance(cls, type) and issubclass(cls, FootageTrackletDataset)]:
        del registry[name]


def tree(folder) -> dict:
    """Every file under ``folder``: relative path -> SHA-256 of its bytes."""
    found = {}
    for base, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(base, name)
            with open(path, 'rb') as f:
                found[os.path.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()
    return found
