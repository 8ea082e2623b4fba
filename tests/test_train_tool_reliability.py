"""tools/train.py under failure: SIGKILL and exact resume, torchrun, wrong data roots."""
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TRAIN = osp.join(REPO, 'tools', 'train.py')


def train_cmd(root, save_dir, *extra, launcher=(sys.executable,), options=()):
    return [*launcher, TRAIN, '--root', str(root), *options,
            'data.save_dir', str(save_dir), 'data.workers', '0', 'data.height', '32',
            'data.width', '16', 'data.transforms', '[]', 'model.name', 'resnet18',
            'model.pretrained', 'False', 'use_gpu', 'False', 'video.sample_method', 'all',
            'test.batch_size', '1', 'test.ranks', '[1, 2]', 'train.batch_size', '8',
            'train.print_freq', '100', 'dal.warmup_epochs', '1', 'train.seed', '3', *extra]


def final_state(save_dir, epochs):
    state = torch.load(osp.join(save_dir, 'model', 'model.pth.tar-{}'.format(epochs)),
                       weights_only=True)
    with open(osp.join(save_dir, 'results.json')) as f:
        targets = json.load(f)['targets']
    return state, targets


def latest_epoch(save_dir):
    path = osp.join(save_dir, 'model', 'checkpoint-latest.pth.tar')
    if not osp.isfile(path):
        return 0
    return torch.load(path, weights_only=True)['epoch']


def test_sigkill_then_resume_ends_like_an_uninterrupted_run(tiny_prid2011_root, tmp_path):
    epochs = '6'
    whole = tmp_path / 'whole'
    subprocess.run(train_cmd(tiny_prid2011_root, whole, 'train.max_epoch', epochs),
                   check=True, capture_output=True, timeout=600)

    killed = tmp_path / 'killed'
    proc = subprocess.Popen(train_cmd(tiny_prid2011_root, killed, 'train.max_epoch', epochs),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while latest_epoch(killed) < 2 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL  # killed mid-run, not finished
    k = latest_epoch(killed)
    assert 2 <= k < int(epochs)
    latest = killed / 'model' / 'checkpoint-latest.pth.tar'
    subprocess.run(train_cmd(tiny_prid2011_root, killed, 'train.max_epoch', epochs,
                             'model.resume', str(latest)),
                   check=True, capture_output=True, timeout=600)

    expected, expected_targets = final_state(whole, epochs)
    got, got_targets = final_state(killed, epochs)
    for key in ('state_dict', 'dal'):
        assert expected[key].keys() == got[key].keys()
        for name in expected[key]:
            assert torch.equal(expected[key][name], got[key][name]), (key, name)
    assert got_targets == expected_targets


def test_torchrun_two_processes_write_one_result(tiny_prid2011_root, tmp_path):
    save_dir = tmp_path / 'ddp'
    launcher = (sys.executable, '-m', 'torch.distributed.run', '--standalone',
                '--nproc_per_node=2')
    done = subprocess.run(train_cmd(tiny_prid2011_root, save_dir, 'train.max_epoch', '2',
                                    launcher=launcher),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    with open(save_dir / 'results.json') as f:
        record = json.load(f)
    assert 0.0 <= record['targets']['prid2011']['rank1'] <= 1.0
    assert [h['epoch'] for h in record['associations']] == [1, 2]
    assert len([n for n in os.listdir(save_dir) if n.startswith('train.log')]) == 1
    assert done.stdout.count('Results written to') == 1  # rank 1 stays quiet


@pytest.mark.parametrize('layout, folder', [('prid2011', 'prid2011'), ('ilidsvid', 'ilids-vid'),
                                            ('mars', 'mars')])
def test_missing_data_set_names_the_expected_layout(tmp_path, layout, folder):
    done = subprocess.run(train_cmd(tmp_path, tmp_path / 'log',
                                    options=('--sources', layout, '--targets', layout)),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert str(tmp_path / folder) in done.stderr
    assert 'expects, under data.root' in done.stderr


def test_incomplete_data_set_adds_the_layout_to_torchreids_error(tiny_prid2011_root, tmp_path):
    import shutil
    root = tmp_path / 'data'
    shutil.copytree(tiny_prid2011_root, root)
    shutil.rmtree(root / 'prid2011' / 'prid_2011' / 'multi_shot' / 'cam_b')
    done = subprocess.run(train_cmd(root, tmp_path / 'log'), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 2
    assert 'cam_b" is not found' in done.stderr  # torchreid's own message ...
    assert 'multi_shot/cam_b/person_0001/0001.png' in done.stderr  # ... and the layout


def test_split_protocol_writes_mean_and_std(tiny_prid2011_root, tmp_path):
    tool = osp.join(REPO, 'tools', 'run_splits.py')
    cmd = train_cmd(tiny_prid2011_root, tmp_path, 'train.max_epoch', '1')
    cmd = [cmd[0], tool, '--splits', '2'] + cmd[2:]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    splits = []
    for i in range(2):
        with open(tmp_path / 'split{}'.format(i) / 'results.json') as f:
            splits.append(json.load(f)['targets']['prid2011'])
    with open(tmp_path / 'results.json') as f:
        summary = json.load(f)
    assert summary['num_splits'] == 2
    for metric in ('rank1', 'rank5', 'rank10', 'rank20', 'mAP'):
        values = [s[metric] for s in splits]
        got = summary['targets']['prid2011'][metric]
        assert got['values'] == values
        assert got['mean'] == pytest.approx(sum(values) / 2)
        assert got['std'] == pytest.approx(abs(values[0] - values[1]) / 2)
