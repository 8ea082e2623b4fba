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


def test_demo_config_is_the_papers_setting(demo):
    cfg = load_config(demo.DEFAULT_CONFIG)
    assert cfg.model.name == 'mobilenetv2_x1_0' and cfg.model.pretrained
    assert cfg.loss.name == 'dal' and cfg.video.pooling_method == 'release'
    assert cfg.data.norm_mean == [0.485, 0.456, 0.406]  # the ImageNet weights' normalisation
    triplet = load_config(demo.DEFAULT_CONFIG, ['loss.name', 'triplet'])
    assert triplet.train.batch_size // triplet.video.seq_len == 8  # DAL's 64 frames a step


def test_demo_refuses_a_real_data_set_folder(demo, tmp_path):
    os.makedirs(tmp_path / 'prid2011' / 'prid_2011')
    with pytest.raises(FileExistsError, match='not a synthetic set'):
        demo.ensure_synthetic_prid2011(str(tmp_path), 64, 32)


def test_cmc_plot_is_written(tmp_path):
    path = plot_cmc_curves({'a': [0.2, 0.5, 1.0], 'b': [0.1] * 25}, str(tmp_path / 'cmc.png'))
    with open(path, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
