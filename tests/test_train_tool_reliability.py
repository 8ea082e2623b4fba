"""dal-train under failure: SIGKILL and exact resume, torchrun, wrong data roots."""
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

from dal_torchreid.cli import run_splits
from dal_torchreid.data.tracklet_frames import build_tracklet_frame_loader

from cli_helpers import REPO, TRAIN, error_lines, run_train, subprocess_env, tiny_options
from engine_helpers import tiny_datamanager


def train_cmd(root, save_dir, *extra, launcher=(sys.executable,)):
    """tools/train.py of this checkout (see :func:`cli_helpers.subprocess_env`)."""
    return [*launcher, TRAIN, *tiny_options(root, save_dir, *extra)]


def run(cmd, **kwargs):
    return subprocess.run(cmd, env=subprocess_env(), **kwargs)


def final_state(save_dir, epochs):
    state = torch.load(save_dir / 'model' / 'checkpoint-latest.pth.tar', weights_only=True)
    assert state['epoch'] == int(epochs)  # the resumable checkpoint holds the anchors too
    with open(save_dir / 'results.json') as f:
        targets = json.load(f)['targets']
    return state, targets


def latest_epoch(save_dir):
    path = save_dir / 'model' / 'checkpoint-latest.pth.tar'
    if not path.is_file():
        return 0
    return torch.load(path, weights_only=True)['epoch']


def test_subprocesses_import_this_checkout(tmp_path):
    done = run([sys.executable, '-c', 'import dal_torchreid; print(dal_torchreid.__file__)'],
               cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == os.path.join(REPO, 'dal_torchreid', '__init__.py')


def test_sigkill_then_resume_ends_like_an_uninterrupted_run(tiny_prid2011_root, tmp_path):
    epochs = '4'
    whole = tmp_path / 'whole'
    run(train_cmd(tiny_prid2011_root, whole, 'train.max_epoch', epochs),
        check=True, capture_output=True, timeout=300)

    killed = tmp_path / 'killed'
    proc = subprocess.Popen(train_cmd(tiny_prid2011_root, killed, 'train.max_epoch', epochs),
                            env=subprocess_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while latest_epoch(killed) < 2 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL  # killed mid-run, not finished
    k = latest_epoch(killed)
    assert 2 <= k < int(epochs)
    latest = killed / 'model' / 'checkpoint-latest.pth.tar'
    run(train_cmd(tiny_prid2011_root, killed, 'train.max_epoch', epochs, 'model.resume',
                  str(latest)), check=True, capture_output=True, timeout=300)

    expected, expected_targets = final_state(whole, epochs)
    got, got_targets = final_state(killed, epochs)
    for key in ('state_dict', 'dal'):
        assert expected[key].keys() == got[key].keys()
        for name in expected[key]:
            assert torch.equal(expected[key][name], got[key][name]), (key, name)
    assert got_targets == expected_targets


def test_torchrun_two_processes_write_one_result_counting_all_frames(tiny_prid2011_root,
                                                                     tmp_path):
    save_dir = tmp_path / 'ddp'
    launcher = (sys.executable, '-m', 'torch.distributed.run', '--standalone',
                '--nproc_per_node=2')
    scratch = tmp_path / 'tmp'  # torchrun's own folder goes with the test's
    scratch.mkdir()
    done = subprocess.run(train_cmd(tiny_prid2011_root, save_dir, 'train.max_epoch', '2',
                                    launcher=launcher),
                          env=dict(subprocess_env(), TMPDIR=str(scratch)),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    with open(save_dir / 'results.json') as f:
        record = json.load(f)
    assert 0.0 <= record['targets']['prid2011']['rank1'] <= 1.0
    assert [h['epoch'] for h in record['associations']] == [1, 2]
    assert len([n for n in os.listdir(save_dir) if n.startswith('train.log')]) == 1
    assert done.stdout.count('Results written to') == 1  # rank 1 stays quiet
    # 2 ranks x train.batch_size 8 frames: one process with batch 16 trains as many
    one_process = build_tracklet_frame_loader(tiny_datamanager(tiny_prid2011_root),
                                              batch_size=16)
    per_epoch = len(one_process) * 16
    assert per_epoch > 0
    assert re.findall(r'=> (\d+) training frames per epoch', done.stdout) == [str(per_epoch)]
    assert record['frames_seen'] == 2 * per_epoch


@pytest.mark.parametrize('layout, folder', [('prid2011', 'prid2011'), ('ilidsvid', 'ilids-vid'),
                                            ('mars', 'mars')])
def test_missing_data_set_names_the_expected_layout(tmp_path, capsys, layout, folder):
    code, _, err = run_train(tiny_options(tmp_path, tmp_path / 'log', 'data.sources',
                                          f"['{layout}']", 'data.targets', f"['{layout}']"),
                             capsys)
    assert code == 2
    assert error_lines(err) == [f'error: no {layout} data set: folder "{tmp_path / folder}" '
                                'does not exist.']
    assert 'expects, under data.root' in err


def test_incomplete_data_set_adds_the_layout_to_torchreids_error(tiny_prid2011_root, tmp_path,
                                                                 capsys):
    root = tmp_path / 'data'
    shutil.copytree(tiny_prid2011_root, root)
    shutil.rmtree(root / 'prid2011' / 'prid_2011' / 'multi_shot' / 'cam_b')
    code, _, err = run_train(tiny_options(root, tmp_path / 'log'), capsys)
    assert code == 2
    assert 'cam_b" does not exist' in err  # the missing folder ...
    assert 'multi_shot/cam_b/person_0001/*.png' in err  # ... and the layout


def test_split_protocol_writes_mean_and_std(tiny_prid2011_root, tmp_path):
    code = run_splits.main(['--splits', '2'] + tiny_options(tiny_prid2011_root, tmp_path,
                                                            'train.max_epoch', '1'))
    assert code == 0
    splits = []
    for i in range(2):
        with open(tmp_path / f'split{i}' / 'results.json') as f:
            splits.append(json.load(f)['targets']['prid2011'])
    with open(tmp_path / 'results.json') as f:
        summary = json.load(f)
    assert summary['num_splits'] == 2
    logs = glob.glob(str(tmp_path / 'splits.log-*'))
    with open(logs[0]) as f:
        assert 'over 2 splits' in f.read()  # the summary reaches the log
    for metric in ('rank1', 'rank5', 'rank10', 'rank20', 'mAP'):
        values = [s[metric] for s in splits]
        got = summary['targets']['prid2011'][metric]
        assert got['values'] == values
        assert got['mean'] == pytest.approx(sum(values) / 2)
        assert got['std'] == pytest.approx(abs(values[0] - values[1]) / 2)


def test_split_protocol_input_errors_are_one_line_in_the_log(tmp_path, capsys):
    missing = tmp_path / 'no-data'
    code = run_splits.main(['--splits', '2'] + tiny_options(missing, tmp_path / 'log'))
    err = capsys.readouterr().err
    assert code == 2
    assert len(error_lines(err)) == 1 and 'does not exist' in error_lines(err)[0]
    assert 'Traceback' not in err
    logs = glob.glob(str(tmp_path / 'log' / 'splits.log-*'))
    with open(logs[0]) as f:
        assert error_lines(f.read()) == error_lines(err)
