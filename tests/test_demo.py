"""dal-demo's pieces (the full demo takes minutes: run it with `make demo`)."""
import os
import os.path as osp

import pytest

from dal_torchreid.experiment.config import load_config
from dal_torchreid.experiment.results import plot_cmc_curves

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
    assert triplet.train.batch_size == 16  # DAL's frames a step, every engine
    assert triplet.train.batch_size // triplet.video.seq_len == 8  # 8 clips of 2 frames


def test_demo_refuses_a_real_data_set_folder(demo, tmp_path):
    os.makedirs(tmp_path / 'prid2011' / 'prid_2011')
    with pytest.raises(FileExistsError, match='not a synthetic set'):
        demo.ensure_synthetic_prid2011(str(tmp_path), 64, 32)


def test_cmc_plot_is_written(tmp_path):
    path = plot_cmc_curves({'a': [0.2, 0.5, 1.0], 'b': [0.1] * 25}, str(tmp_path / 'cmc.png'))
    with open(path, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'


def test_demo_sweep_table_gives_dals_ratios(tmp_path):
    from dal_torchreid.benchmarks.demo_sweep import collect, format_sweep
    from dal_torchreid.experiment.results import make_record, write_results
    for name, rank1 in (('untrained', 0.2), ('dal-demo', 0.5), ('triplet', 0.8)):
        record = make_record({'prid2011': {'cmc': [rank1, 1.0], 'mAP': rank1}}, epochs=10,
                             frames_seen=1000, wall_time_s=5.0)
        write_results(record, str(tmp_path / name))
    table = format_sweep(collect(str(tmp_path)))
    row = next(line for line in table.splitlines() if line.startswith('dal-demo'))
    assert row.split()[-2:] == ['2.50x', '0.62x'] and '50.0%' in row


def test_demo_set_is_written_with_the_settings_asked_for(demo, tmp_path):
    import json
    folder = demo.ensure_synthetic_prid2011(str(tmp_path), 32, 16,
                                            {'ids': 4, 'min_frames': 2, 'max_frames': 3})
    with open(osp.join(folder, 'synthetic.json')) as f:
        written = json.load(f)['config']
    assert (written['ids'], written['min_frames'], written['max_frames']) == (4, 2, 3)
    assert (written['height'], written['width']) == (32, 16)
    assert demo.DEMO_DATA['ids'] == 200  # PRID2011's people, split 100/100
    with pytest.warns(UserWarning, match='other settings'):
        demo.ensure_synthetic_prid2011(str(tmp_path), 32, 16, {'ids': 6})
