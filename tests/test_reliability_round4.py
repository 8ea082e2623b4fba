"""Faults of the fourth reliability round, each reproduced first: split entries that are not
plain person folders, listed twice or empty; a changed split file behind a kept split; a
results.json or lock file of the wrong shape; two processes taking over one stale lock; a
full disk met at the last flush; YAML tags; a clustering that leaves nothing to train;
settings the engine cannot run; MARS query indices; checkpoints without a training-set
record or with an impossible epoch. Every one is one line (exit 2) or does what was asked."""
import json
import os
import resource
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
from scipy.io import loadmat, savemat

from dal_torchreid.experiment import run as experiment
from dal_torchreid.cli import run_splits
from dal_torchreid.experiment.config import ConfigError, load_config
from dal_torchreid.engine.checkpoint import CheckpointError, resume_checkpoint
from dal_torchreid.files.errors import WriteError
from dal_torchreid.models.weights import save_checkpoint_atomic
from dal_torchreid.files.save_dir import LOCK_FILE, SaveDirError, SaveDirLock

from cli_helpers import one_error, run_train, subprocess_env, tiny_options

CAMERAS = ('cam_a', 'cam_b')


def splits_file(root):
    return root / 'prid2011' / 'splits_prid2011.json'


def edit_split_0(root, edit):
    path = splits_file(root)
    splits = json.loads(path.read_text())
    edit(splits[0])
    path.write_text(json.dumps(splits))
    return path


def camera_dir(root, camera):
    return root / 'prid2011' / 'prid_2011' / 'multi_shot' / camera


# F1, F2, F3: split entries are plain person folders, each named once, none empty


@pytest.mark.parametrize('part', ['train', 'test'])
def test_a_person_listed_twice_in_a_split_is_refused(prid_copy, tmp_path, capsys, part):
    person = {}

    def twice(split):
        person['name'] = split[part][0]
        split[part].append(split[part][0])
    path = edit_split_0(prid_copy, twice)
    code, _, err = run_train(tiny_options(prid_copy, tmp_path / 'log'), capsys)
    line = one_error(code, err)
    assert line == (f'error: split 0 of "{path}" names person "{person["name"]}" twice in '
                    f'"{part}"')
    assert not (tmp_path / 'log' / 'model').exists()


@pytest.mark.parametrize('entry', ['../cam_a/{test}', '{absolute}', '.', '', 7],
                         ids=['relative', 'absolute', 'dot', 'empty', 'number'])
def test_a_split_entry_must_be_a_plain_folder_name(prid_copy, tmp_path, capsys, entry):
    splits = json.loads(splits_file(prid_copy).read_text())
    test_person = splits[0]['test'][0]
    if isinstance(entry, str):
        entry = entry.format(test=test_person,
                             absolute=str(camera_dir(prid_copy, 'cam_a') / test_person))
    path = edit_split_0(prid_copy, lambda split: split['train'].append(entry))
    code, _, err = run_train(tiny_options(prid_copy, tmp_path / 'log'), capsys)
    line = one_error(code, err)
    assert line == (f'error: split 0 of "{path}" names {json.dumps(entry)} in "train": an entry '
                    'must be the name of a person folder in the camera folders (no "/", "." '
                    'or "..")')


def test_overlap_is_checked_on_the_resolved_folders(prid_copy, tmp_path, capsys):
    test_person = json.loads(splits_file(prid_copy).read_text())[0]['test'][0]
    for camera in CAMERAS:  # person_0099: another name of a test person's folders
        os.symlink(test_person, camera_dir(prid_copy, camera) / 'person_0099')
    path = edit_split_0(prid_copy, lambda split: split['train'].append('person_0099'))
    code, _, err = run_train(tiny_options(prid_copy, tmp_path / 'log'), capsys)
    line = one_error(code, err)
    assert line == (f'error: split 0 of "{path}" trains and tests the same people: '
                    f"['person_0099' (the folders of '{test_person}')]")


def test_two_names_of_one_folder_in_a_list_are_refused(prid_copy, tmp_path, capsys):
    train_person = json.loads(splits_file(prid_copy).read_text())[0]['train'][0]
    for camera in CAMERAS:
        os.symlink(train_person, camera_dir(prid_copy, camera) / 'person_0099')
    path = edit_split_0(prid_copy, lambda split: split['train'].append('person_0099'))
    code, _, err = run_train(tiny_options(prid_copy, tmp_path / 'log'), capsys)
    line = one_error(code, err)
    assert line == (f'error: split 0 of "{path}" names person "{train_person}" twice in "train" '
                    '(as "person_0099" too: the same folders)')


@pytest.mark.parametrize('part', ['train', 'test'])
def test_an_empty_list_in_a_split_is_refused(prid_copy, tmp_path, capsys, part):
    path = edit_split_0(prid_copy, lambda split: split.update({part: []}))
    code, _, err = run_train(tiny_options(prid_copy, tmp_path / 'log'), capsys)
    line = one_error(code, err)
    assert line == f'error: split 0 of "{path}" has an empty "{part}" list'


# F4, F5: the protocol keeps a split only if the split file still says the same


def test_a_kept_split_must_have_the_split_file_s_lists(prid_copy, tmp_path, capsys, monkeypatch):
    save_dir = tmp_path / 'log'
    argv = ['--splits', '1'] + tiny_options(prid_copy, save_dir, 'train.max_epoch', '1')
    assert run_splits.main(argv) == 0
    capsys.readouterr()
    runs = []

    def counted(cfg, save_dir=None):
        runs.append(cfg.data.split_id)
        return json.loads((tmp_path / 'log' / 'split0' / 'results.json').read_text())
    monkeypatch.setattr(experiment, 'run_experiment', counted)
    assert run_splits.main(argv) == 0  # unchanged: kept
    assert runs == [] and 'kept' in capsys.readouterr().out

    def swap(split):
        split['train'][0], split['test'][0] = split['test'][0], split['train'][0]
    edit_split_0(prid_copy, swap)
    assert run_splits.main(argv) == 0
    assert runs == [0]
    assert '=> Split 1 of 1\n' in capsys.readouterr().out


@pytest.mark.parametrize('record', [[1, 2], 'done', {'targets': [1]}], ids=['list', 'string',
                                                                             'targets-list'])
def test_a_results_file_of_another_shape_is_not_a_finished_run(tmp_path, record):
    cfg = load_config(None, [])
    if isinstance(record, dict):  # this config's, but no record of targets
        record.update(config_sha1=experiment.config_sha1(cfg), splits_sha1={})
    (tmp_path / 'results.json').write_text(json.dumps(record))
    assert experiment.finished_run(str(tmp_path), cfg) is None


# F7, F8: run.lock


@pytest.mark.parametrize('holder', [
    {'pid': 99999999999999999999}, {'pid': 99999999999999999999, 'host': socket.gethostname()},
    {'pid': 0, 'host': socket.gethostname()}, {'pid': -1, 'host': 'another-host'},
    {'pid': True, 'host': socket.gethostname()}],
    ids=['huge', 'huge-this-host', 'zero', 'minus-one-another-host', 'true'])
def test_a_lock_naming_an_impossible_process_is_taken_over(tmp_path, holder):
    (tmp_path / LOCK_FILE).write_text(json.dumps(holder))
    lock = SaveDirLock(str(tmp_path))
    with pytest.warns(UserWarning, match='taking over the lock'):
        lock.acquire()
    assert json.loads((tmp_path / LOCK_FILE).read_text())['pid'] == os.getpid()
    lock.release()
    assert not (tmp_path / LOCK_FILE).exists()


RACER = '''
import os, sys, time
from dal_torchreid.files.save_dir import SaveDirError, SaveDirLock
save_dir, go, done, delay = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
judge = SaveDirLock._stale
def slow_stale(self, holder):  # the moment between judging a lock stale and taking it
    stale = judge(self, holder)
    if stale:
        time.sleep(delay)
    return stale
SaveDirLock._stale = slow_stale
print('ready', flush=True)
while not os.path.exists(go):
    time.sleep(0.005)
try:
    SaveDirLock(save_dir).acquire()
    print('held', flush=True)
except SaveDirError:
    print('refused', flush=True)
while not os.path.exists(done):
    time.sleep(0.01)
'''


def test_one_process_wins_a_stale_lock_taken_over_at_once(tmp_path):
    gone = subprocess.Popen([sys.executable, '-c', 'pass'])
    gone.wait()
    save_dir, go, done = tmp_path / 'log', tmp_path / 'go', tmp_path / 'done'
    save_dir.mkdir()
    (save_dir / LOCK_FILE).write_text(json.dumps(
        {'pid': gone.pid, 'host': socket.gethostname(), 'started': '2026-01-01 00:00:00'}))
    racers = [subprocess.Popen([sys.executable, '-W', 'ignore', '-c', RACER, str(save_dir),
                                str(go), str(done), str(0.3 * (i + 1))],
                               env=subprocess_env(), stdout=subprocess.PIPE, text=True)
              for i in range(3)]
    try:
        assert [r.stdout.readline().strip() for r in racers] == ['ready'] * 3
        go.touch()
        outcomes = [r.stdout.readline().strip() for r in racers]
        holder = json.loads((save_dir / LOCK_FILE).read_text())
        done.touch()
        for r in racers:
            assert r.wait(timeout=60) == 0
    finally:
        done.touch()
        for r in racers:
            r.kill()
            r.wait()
    assert sorted(outcomes) == ['held', 'refused', 'refused'], outcomes
    assert holder['pid'] == racers[outcomes.index('held')].pid


# F9: a full disk met when the last buffered bytes are written


def test_a_checkpoint_that_fills_the_disk_at_its_last_bytes_is_one_error(tmp_path):
    state = {'weights': torch.zeros(2 ** 16)}
    save_checkpoint_atomic(state, str(tmp_path / 'full.pth'))
    size = os.path.getsize(tmp_path / 'full.pth')
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size - 100, hard))  # fails at the last flush
    try:
        with pytest.raises(WriteError) as caught:
            save_checkpoint_atomic(state, str(tmp_path / 'cut.pth'))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert str(caught.value) == f'cannot write "{tmp_path / "cut.pth"}": File too large'
    assert os.listdir(tmp_path) == ['full.pth']  # no temporary file left


# F10: YAML tags


@pytest.mark.parametrize('value', ['!!python/object/apply:os.system ["touch {marker}"]',
                                   '!custom 0.1'], ids=['python-tag', 'unknown-tag'])
def test_a_yaml_tag_is_one_line_naming_the_file(tmp_path, value):
    marker = tmp_path / 'executed'
    config = tmp_path / 'tagged.yaml'
    config.write_text(f'train:\n  lr: {value.format(marker=marker)}\n')
    with pytest.raises(ConfigError) as caught:
        load_config(str(config))
    message = str(caught.value)
    assert message.startswith(f'config file "{config}": could not determine a constructor for '
                              'the tag'), message
    assert '\n' not in message and 'line 2' in message
    assert not marker.exists()


# F11, F12: a clustering that leaves nothing to train


CC = ('--engine', 'cc', 'video.seq_len', '2', 'cc.clips_per_identity', '2', 'train.max_epoch',
      '1')


@pytest.mark.parametrize('opts, expected', [
    (['cc.eps', '0.999'],
     'clustering put all 8 training tracklets into 1 pseudo-identity before epoch 1: '
     'the memory loss over one class is 0 and trains nothing'),
    (['cc.min_samples', '100000'],
     'clustering left no pseudo-identity before epoch 1 (all 8 training tracklets are '
     'outliers): nothing to train'),
], ids=['one-cluster', 'all-outliers'])
def test_a_clustering_that_leaves_nothing_to_train_is_one_line(tiny_prid2011_root, tmp_path,
                                                               capsys, opts, expected):
    save_dir = tmp_path / 'log'
    code, _, err = run_train(['--engine', 'cc'] + tiny_options(tiny_prid2011_root, save_dir,
                                                              *CC[2:], *opts), capsys)
    line = one_error(code, err)
    assert line.startswith(f'error: {expected}'), line
    for key in ('cc.eps', 'cc.min_samples', 'cc.k1'):
        assert key in line
    assert not (save_dir / 'results.json').exists() and not (save_dir / 'model').exists()


def test_camera_negatives_over_one_cluster_per_camera_cannot_train():
    from dal_torchreid.cluster.pseudo_labels import ClusteringError, check_pseudo_labels
    cameras = np.array([0, 0, 1, 1])
    with pytest.raises(ClusteringError, match='cc.negatives camera'):
        check_pseudo_labels(np.array([0, 0, 1, 1]), cameras, by_camera=True, epoch=1)
    check_pseudo_labels(np.array([0, 0, 1, 1]), cameras, by_camera=False, epoch=1)
    check_pseudo_labels(np.array([0, 1, 0, 1]), cameras, by_camera=True, epoch=1)


# F13, F14: settings the engine cannot run


def test_camera_proxies_with_camera_negatives_are_refused_at_validation():
    with pytest.raises(ConfigError, match=r"^command line: cc\.negatives 'camera' applies to "
                                          r"proxies 'cluster' only \(got proxies 'camera'\)"):
        load_config(None, ['loss.name', 'cc', 'cc.proxies', 'camera', 'cc.negatives', 'camera',
                           'video.seq_len', '4'])


@pytest.mark.parametrize('engine', ['dal', 'softmax'])
def test_open_layers_must_name_layers_of_the_model(tiny_prid2011_root, tmp_path, capsys, engine):
    code, _, err = run_train(['--engine', engine] + tiny_options(
        tiny_prid2011_root, tmp_path / 'log', 'train.max_epoch', '1', 'train.fixbase_epoch', '1',
        'train.open_layers', '["nolayer"]', 'video.seq_len', '2',
        'video.train_sample_method', 'evenly'), capsys)
    line = one_error(code, err)
    assert line.startswith("error: train.open_layers names 'nolayer', which resnet18 does not "
                           'have (its layers: conv1, bn1, relu, maxpool, layer1, '), line
    assert not (tmp_path / 'log' / 'model').exists()


# F15: MARS query indices


def _query_mat(root):
    return root / 'mars' / 'info' / 'query_IDX.mat'


@pytest.mark.parametrize('case, expected', [
    ('past', 'query_IDX holds index {n_plus_1}, but "{test}" lists {n} test tracklets '
             '(indices 1..{n})'),
    ('zero', 'query_IDX holds index 0, but "{test}" lists {n} test tracklets (indices 1..{n})'),
    ('twice', 'query_IDX holds index {first} twice'),
    ('missing', 'holds no query_IDX variable (it has: other)'),
])
def test_a_bad_mars_query_index_is_named(tiny_mars_root, tmp_path, capsys, case, expected):
    root = tmp_path / 'data'
    shutil.copytree(tiny_mars_root, root)
    path = _query_mat(root)
    query = loadmat(str(path))['query_IDX'].ravel()
    test_info = root / 'mars' / 'info' / 'tracks_test_info.mat'
    n = len(loadmat(str(test_info))['track_test_info'])
    changed = {'past': np.append(query, n + 1), 'zero': np.append(query, 0),
               'twice': np.append(query, query[0])}
    savemat(str(path), {'other': query} if case == 'missing' else {'query_IDX': changed[case][None]})
    code, _, err = run_train(tiny_options(root, tmp_path / 'log', 'data.sources', "['mars']",
                                          'data.targets', "['mars']"), capsys)
    line = one_error(code, err)
    assert line == f'error: mars file "{path}" ' + expected.format(
        n=n, n_plus_1=n + 1, first=query[0], test=test_info)


# F16, F17: checkpoints without a training-set record, or with an impossible epoch


@pytest.fixture(scope='module')
def dal_checkpoint(tiny_prid2011_root, tmp_path_factory):
    from dal_torchreid.cli import train as train_tool
    save_dir = tmp_path_factory.mktemp('dal')
    assert train_tool.main(tiny_options(tiny_prid2011_root, save_dir, 'train.max_epoch', '1')) == 0
    return save_dir / 'model' / 'checkpoint-latest.pth.tar'


def _edited(dal_checkpoint, tmp_path, edit):
    state = torch.load(dal_checkpoint, weights_only=True)
    edit(state)
    path = tmp_path / 'edited.pth.tar'
    torch.save(state, path)
    return path


@pytest.mark.parametrize('edit, evaluate', [
    (lambda state: state.pop('meta'), 'False'), (lambda state: state.pop('meta'), 'True'),
    (lambda state: state.update(meta={}), 'False'),
    (lambda state: state.update(meta='split 1'), 'False'),
    (lambda state: state['meta'].pop('training_set'), 'False'),
    (lambda state: state['meta'].update(training_set=None), 'False')],
    ids=['deleted', 'deleted-test-only', 'empty', 'string', 'no-training-set',
         'training-set-none'])
def test_a_checkpoint_without_a_training_set_record_is_refused(dal_checkpoint, tiny_prid2011_root,
                                                               tmp_path, capsys, edit, evaluate):
    path = _edited(dal_checkpoint, tmp_path, edit)
    code, _, err = run_train(tiny_options(tiny_prid2011_root, tmp_path / 'log', 'model.resume',
                                          path, 'train.max_epoch', '2', 'test.evaluate',
                                          evaluate), capsys)
    line = one_error(code, err)
    assert line.startswith(f'error: checkpoint "{path}" holds no valid record of the training set '
                           'it was written for'), line
    assert not (tmp_path / 'log' / 'results.json').exists()


@pytest.mark.parametrize('epoch', [-5, 'abc', 1.5, True])
def test_a_checkpoint_with_an_impossible_epoch_is_refused(dal_checkpoint, tiny_prid2011_root,
                                                          tmp_path, capsys, epoch):
    path = _edited(dal_checkpoint, tmp_path, lambda state: state.update(epoch=epoch))
    code, _, err = run_train(tiny_options(tiny_prid2011_root, tmp_path / 'log', 'model.resume',
                                          path, 'train.max_epoch', '2'), capsys)
    line = one_error(code, err)
    assert line == (f'error: checkpoint "{path}" holds epoch {epoch!r}; an epoch is a whole '
                    'number >= 0')


def test_a_torchreid_checkpoint_with_an_impossible_epoch_is_refused(tmp_path):
    model = torch.nn.Linear(2, 2)
    path = tmp_path / 'torchreid.pth.tar'
    torch.save({'state_dict': model.state_dict(), 'epoch': -5}, path)
    with pytest.raises(CheckpointError, match=r'holds epoch -5; an epoch is a whole number >= 0'):
        resume_checkpoint(str(path), model)
