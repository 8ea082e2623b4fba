"""dal-demo's pieces (the full demo takes minutes: run it with `make demo`)."""
import os
import os.path as osp

import pytest

from dal_torchreid.config import load_config
from dal_torchreid.results import plot_cmc_curves

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(scope='module')
def demo():
    from dal_torchreid.cli import demo
    return demo


def test_supervised_baseline_sees_dal_frames_per_step(demo):
    cfg = load_config(demo.DEFAULT_CONFIG)
    opts = demo.supervised_options(cfg, 'softmax')
    sup = load_config(demo.DEFAULT_CONFIG, opts)
    assert sup.loss.name == 'softmax'
    assert sup.train.batch_size * sup.video.seq_len == cfg.train.batch_size
    trip = load_config(demo.DEFAULT_CONFIG, demo.supervised_options(cfg, 'triplet'))
    assert trip.sampler.train_sampler == 'RandomIdentitySampler'


def test_demo_refuses_a_real_data_set_folder(demo, tmp_path):
    os.makedirs(tmp_path / 'prid2011' / 'prid_2011')
    with pytest.raises(FileExistsError, match='not a synthetic set'):
        demo.ensure_synthetic_prid2011(str(tmp_path), 64, 32)


def test_cmc_plot_is_written(tmp_path):
    path = plot_cmc_curves({'a': [0.2, 0.5, 1.0], 'b': [0.1] * 25}, str(tmp_path / 'cmc.png'))
    with open(path, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
