"""dal-train (and torchreid from Python) on a footage data set: a bad name, a damaged data
set or a footage set asked to be evaluated is refused before training, in one line, and
trained weights are never lost to an evaluation that fails.

Rows of the fifth reliability round (issue 34): S7 (a data set name that is not one
folder name), S15 (footage as a test target from Python; weights before the final
evaluation), a damaged ``tracklets.json`` or ``manifest.csv``, a data set name that is not
found (where was it looked for), and the data set summary torchreid prints.
"""
import os
import os.path as osp
import shutil

import pytest
import torch

import torchreid

from cli_helpers import error_lines, one_error, run_train, tiny_options
from dal_torchreid.cli.associate import main as associate_main
from dal_torchreid.engine.supervised import RecordedVideoSoftmaxEngine
from dal_torchreid.footage import NoIdentitiesError, register_footage_dataset
from engine_helpers import tiny_datamanager, tiny_engine
from footage_fixtures import (  # noqa: F401  (fixtures)
    tiny_footage, tiny_tracklets, forget_footage_datasets
)


def options(root, save_dir, *extra):
    return [*tiny_options(root, save_dir), 'train.max_epoch', '1', *extra]


@pytest.fixture
def own_data_set(tiny_tracklets, tmp_path):
    """``(root, 'shop')``: a copy of the tiny tracklet data set a test may damage."""
    root, name = tiny_tracklets
    shutil.copytree(osp.join(root, name), tmp_path / 'root' / 'shop')
    return tmp_path / 'root', 'shop'


def refused_before_training(code, out, err, save_dir):
    line = one_error(code, err)
    assert 'Start training' not in out
    assert not osp.isdir(osp.join(save_dir, 'model')), os.listdir(save_dir)
    return line


# S7: -s names one folder under the data root

@pytest.mark.parametrize('name', ['../x', 'ABSOLUTE', ''])
def test_s7_a_data_set_name_that_is_not_one_folder_name_is_refused(own_data_set, tmp_path,
                                                                   capsys, name):
    root, _ = own_data_set
    shutil.copytree(root / 'shop', tmp_path / 'x')  # a data set one level above the root
    name = str(tmp_path / 'x') if name == 'ABSOLUTE' else name
    code, _, err = run_train([*options(root, tmp_path / 'log'), '-s', name], capsys, seconds=300)
    line = one_error(code, err)
    assert f'"{name}"' in line and 'one plain folder name' in line, line
    assert not (tmp_path / 'log').exists()
    assert sorted(os.listdir(tmp_path)) == ['root', 'x']  # nothing written beside the root


# tracklets.json and manifest.csv are checked when the data set is registered or loaded

@pytest.mark.parametrize('damage, expected', [
    (lambda folder: open(folder / 'tracklets.json', 'r+').truncate(40), ['tracklets.json"',
                                                                         'cannot be read']),
    (lambda folder: (folder / 'tracklets.json').write_text('{"cameras": {}}'),
     ['tracklets.json"', 'no "footage"']),
    (lambda folder: (folder / 'tracklets.json').write_text('[]'), ['tracklets.json"', 'list']),
    (lambda folder: os.remove(folder / 'tracklets.json'), ['tracklets.json"', 'does not exist']),
])
def test_a_damaged_tracklets_json_is_one_line_before_training(own_data_set, tmp_path, capsys,
                                                              damage, expected):
    root, name = own_data_set
    damage(root / name)
    code, out, err = run_train([*options(root, tmp_path / 'log'), '-s', name], capsys,
                               seconds=300)
    line = refused_before_training(code, out, err, tmp_path / 'log')
    for text in expected:
        assert text in line, line


def test_a_malformed_manifest_is_one_line_naming_it(own_data_set, tmp_path, capsys):
    root, name = own_data_set
    manifest = root / name / 'manifest.csv'
    rows = manifest.read_text().splitlines()
    rows[3] = rows[3].replace(',', ',x', 3)
    manifest.write_text('\n'.join(rows) + '\n')
    code, out, err = run_train([*options(root, tmp_path / 'log'), '-s', name], capsys,
                               seconds=300)
    line = one_error(code, err)
    assert f'"{manifest}" line 4' in line and 'Start training' not in out


# A name that is not found says where it was looked for

def test_a_footage_name_without_root_says_where_it_looked(own_data_set, tmp_path, capsys,
                                                          monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_train([*options(tmp_path / 'unused', tmp_path / 'log')[2:], '-s', 'shop'],
                             capsys)
    line = one_error(code, err)
    assert str(tmp_path / 'reid-data' / 'shop' / 'manifest.csv') in line, line
    assert 'data.root' in line and '--root' in line, line


def test_a_typo_in_a_footage_name_says_where_it_looked(own_data_set, tmp_path, capsys):
    root, _ = own_data_set
    code, _, err = run_train([*options(root, tmp_path / 'log'), '-s', 'shpo'], capsys)
    line = one_error(code, err)
    assert str(root / 'shpo' / 'manifest.csv') in line and 'does not exist' in line, line
    assert "'shpo'" in line


def test_dal_associate_without_s_does_not_quote_an_s_never_typed(own_data_set, tmp_path, capsys):
    root, _ = own_data_set
    code = associate_main(['--root', str(root), '--out', str(tmp_path / 'out'),
                           'model.name', 'resnet18', 'model.pretrained', 'False'])
    err = capsys.readouterr().err
    assert code == 2 and len(error_lines(err)) == 1, err
    assert '-s prid2011' not in err and 'no -s' in err, err


# S15: from Python, footage is refused as a test target; weights outlive a failed evaluation

def test_s15_footage_as_a_torchreid_target_is_refused_before_training(own_data_set):
    root, name = own_data_set
    register_footage_dataset(name)
    with pytest.raises(NoIdentitiesError, match=r'targets=\[\]'):
        torchreid.data.VideoDataManager(root=str(root), sources=name, height=32, width=16,
                                        workers=0, use_gpu=False)


def failing_evaluation(*args, **kwargs):
    raise RuntimeError('the evaluation failed')


@pytest.mark.parametrize('engine', ['dal', 'softmax'])
def test_s15_trained_weights_are_saved_when_the_final_evaluation_fails(tiny_prid2011_root,
                                                                      tmp_path, capsys, engine):
    datamanager = tiny_datamanager(tiny_prid2011_root)
    if engine == 'dal':
        trained = tiny_engine(datamanager)
    else:
        model = torchreid.models.build_model('resnet18', datamanager.num_train_pids,
                                             pretrained=False)
        optimizer = torchreid.optim.build_optimizer(model, optim='adam', lr=3e-4)
        trained = RecordedVideoSoftmaxEngine(
            datamanager, model, optimizer, use_gpu=False,
            scheduler=torchreid.optim.build_lr_scheduler(optimizer, stepsize=20))
    trained._evaluate = failing_evaluation
    with pytest.raises(RuntimeError, match='the evaluation failed'):
        trained.run(save_dir=str(tmp_path), max_epoch=1, print_freq=10 ** 6, ranks=[1])
    saved = tmp_path / 'model' / 'model.pth.tar-1'
    assert saved.is_file()
    state = torch.load(saved, map_location='cpu', weights_only=False)['state_dict']
    weights = dict(trained.model.named_parameters())
    name = next(iter(weights))
    assert torch.equal(state[name], weights[name].detach())
    assert str(saved) in capsys.readouterr().out


# The summary torchreid prints for a footage data set

def test_the_footage_summary_shows_tracklets_and_cameras_not_placeholders(own_data_set, capsys):
    root, name = own_data_set
    register_footage_dataset(name)
    capsys.readouterr()
    datamanager = torchreid.data.VideoDataManager(root=str(root), sources=name, targets=[],
                                                  height=32, width=16, workers=0, use_gpu=False)
    out = capsys.readouterr().out
    summary = out[out.index('=> Loaded'):out.index('Summary')]
    tracklets = datamanager.train_loader.dataset.train
    assert 'query' not in summary and 'gallery' not in summary and '# ids' not in summary
    assert 'no identities' in summary
    row = [line for line in summary.splitlines() if line.strip().startswith('train')]
    assert row and [int(v) for v in row[0].split('|')[1:3]] == [len(tracklets), 3], summary
