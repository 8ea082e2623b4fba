"""docs/config.md is the code's: every key documented, regenerated output identical;
``dal-train --print-config`` prints a config a run can load back."""
import os.path as osp

import pytest

from dal_torchreid.experiment.config import get_default_config, load_config
from dal_torchreid.experiment.config.keys import leaves as _leaves
from dal_torchreid.experiment.config.reference import KEY_DOCS, allowed_values, main, render_markdown

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG_MD = osp.join(REPO, 'docs', 'config.md')


def test_every_default_key_is_documented_and_nothing_else():
    keys = [key for key, _ in _leaves(get_default_config())]
    assert sorted(KEY_DOCS) == sorted(keys)
    text = render_markdown()
    for key in keys:
        assert f'| `{key}` |' in text


def test_docs_config_md_matches_the_code():
    with open(CONFIG_MD, encoding='utf-8') as f:
        assert f.read() == render_markdown(), (
            'docs/config.md is stale: python -m dal_torchreid.experiment.config.reference --markdown '
            '> docs/config.md')
    assert main(['--check', CONFIG_MD]) == 0


def test_check_fails_on_a_stale_file(tmp_path, capsys):
    stale = tmp_path / 'config.md'
    stale.write_text(render_markdown().replace('dal.margin', 'dal.marg'))
    assert main(['--check', str(stale)]) == 1
    assert 'differs from the code' in capsys.readouterr().err


def test_allowed_values_come_from_the_checks():
    assert allowed_values('dal.sampling') == ["must be one of ['frame', 'tracklet'] (dal)"]
    assert allowed_values('model.bn_momentum') == ["must be in [0, 1] (0 keeps the model's own)"]
    assert allowed_values('train.ema_decay') == ['must be in (0, 1) (dal, cc)']
    assert allowed_values('train.lr') == ['must be > 0']
    assert "must be one of ['torchreid', 'release']" in allowed_values('test.protocol')
    assert allowed_values('cc.outliers') == ["must be one of ['drop', 'own_class'] (cc)"]
    assert allowed_values('use_gpu') == []


def test_print_config_prints_the_merged_config_and_reads_no_data(tmp_path, capsys):
    from dal_torchreid.cli.train import main as train
    config = osp.join(REPO, 'configs', 'synthetic_pretrained.yaml')
    code = train(['--print-config', '--config-file', config, '--root', str(tmp_path / 'none'),
                  'train.lr', '0.001'])
    out = capsys.readouterr().out
    assert code == 0
    dumped = tmp_path / 'dumped.yaml'
    dumped.write_text(out)
    again = load_config(str(dumped))
    assert again.train.lr == 0.001 and again.model.name == 'mobilenetv2_x1_0'
    assert again == load_config(config, ['train.lr', 0.001, 'data.root', str(tmp_path / 'none')])
    assert not (tmp_path / 'none').exists()


def test_help_names_the_config_reference(capsys):
    from dal_torchreid.cli.train import main as train
    with pytest.raises(SystemExit):
        train(['--help'])
    out = capsys.readouterr().out
    assert 'docs/config.md' in out and '--print-config' in out
