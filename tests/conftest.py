"""Session fixtures: tiny synthetic data sets in each torchreid layout, built once per run."""
import shutil

import pytest

from dal_torchreid.data.synthetic import SyntheticConfig, make_synthetic_dataset

TINY_PRID2011 = SyntheticConfig(ids=8, min_frames=6, max_frames=10, height=32, width=16)
TINY_ILIDSVID = SyntheticConfig(ids=8, min_frames=6, max_frames=10, height=32, width=16)
TINY_MARS = SyntheticConfig(ids=6, cameras=3, tracklets_per_camera=2, distractors=3, junk=2,
                            min_frames=4, max_frames=8, height=32, width=16)


def _build(tmp_path_factory, layout, config):
    root = tmp_path_factory.mktemp(f'tiny-{layout}')
    make_synthetic_dataset(layout, str(root), config)
    return str(root)


@pytest.fixture(scope='session')
def tiny_prid2011_root(tmp_path_factory):
    """Root of a PRID2011-layout set: 8 ids (4 train, 4 test), 2 cameras, 6-10 frames of 32x16."""
    return _build(tmp_path_factory, 'prid2011', TINY_PRID2011)


@pytest.fixture(scope='session')
def tiny_ilidsvid_root(tmp_path_factory):
    """Root of an iLIDS-VID-layout set: 8 ids, 2 cameras, 6-10 frames of 32x16."""
    return _build(tmp_path_factory, 'ilidsvid', TINY_ILIDSVID)


@pytest.fixture(scope='session')
def tiny_mars_root(tmp_path_factory):
    """Root of a MARS-layout set: 6 ids (3 train, 3 test), 3 cameras, 2 tracklets per id and
    camera, 3 distractors (pid 0), 2 junk tracklets (pid -1), 4-8 frames of 32x16."""
    return _build(tmp_path_factory, 'mars', TINY_MARS)


@pytest.fixture
def prid_copy(tiny_prid2011_root, tmp_path):
    """A copy of the tiny PRID2011 set that a test may change (under ``tmp_path / 'data'``)."""
    root = tmp_path / 'data'
    shutil.copytree(tiny_prid2011_root, root)
    return root
