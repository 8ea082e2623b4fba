"""dal-train stopped from outside: SIGINT and SIGTERM end it with one line naming the
checkpoint to resume from and release run.lock; a FIFO in place of a frame stops the
run with one line instead of blocking it."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from dal_torchreid.cli.console import run_logged
from dal_torchreid.experiment.config import load_config

from cli_helpers import (
    TRAIN, deadline, error_lines, one_error, run_train, subprocess_env, tiny_options
)


def _default_sigint():
    # a test run in the background (``cmd &``) ignores SIGINT, and so would dal-train
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize('signum, code', [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
                         ids=['SIGINT', 'SIGTERM'])
def test_a_signal_ends_training_in_one_line_naming_the_checkpoint(tiny_prid2011_root, tmp_path,
                                                                   signum, code):
    save_dir = tmp_path / 'run'
    latest = save_dir / 'model' / 'checkpoint-latest.pth.tar'
    proc = subprocess.Popen(
        [sys.executable, TRAIN, *tiny_options(tiny_prid2011_root, save_dir, 'train.max_epoch',
                                              '200')],
        env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        preexec_fn=_default_sigint)
    deadline_at = time.time() + 240
    while not latest.is_file() and proc.poll() is None and time.time() < deadline_at:
        time.sleep(0.05)
    assert proc.poll() is None, 'the run ended before it was signalled'
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err[-2000:]
    assert 'Traceback' not in err
    [line] = [text for text in err.splitlines() if text.startswith('error: ')]
    name = signal.Signals(signum).name
    assert line == (f'error: interrupted by {name}; the lock of "{save_dir}" is released; to '
                    f'continue, run it again with model.resume "{latest}"')
    assert not (save_dir / 'run.lock').exists()
    assert not (save_dir / 'results.json').exists()


def test_a_signal_before_any_checkpoint_names_none_of_an_earlier_run(tmp_path, capsys):
    earlier = tmp_path / 'model' / 'checkpoint-latest.pth.tar'
    earlier.parent.mkdir()
    earlier.write_bytes(b'an earlier run\'s checkpoint')
    os.utime(earlier, (0, 0))
    cfg = load_config(None, ['data.save_dir', str(tmp_path)])
    handler = signal.getsignal(signal.SIGTERM)

    def work():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)  # the signal ends this at once

    with deadline(20):
        assert run_logged(cfg, work) == (143, None)
    assert error_lines(capsys.readouterr().err) == [
        f'error: interrupted by SIGTERM; the lock of "{tmp_path}" is released; no checkpoint '
        'of this run was written yet: run it again to start over']
    assert signal.getsignal(signal.SIGTERM) is handler


def _first_test_frame(root):
    data = os.path.join(root, 'prid2011')
    with open(os.path.join(data, 'splits_prid2011.json')) as f:
        person = json.load(f)[0]['test'][0]
    folder = os.path.join(data, 'prid_2011', 'multi_shot', 'cam_a', person)
    return os.path.join(folder, sorted(os.listdir(folder))[0])


def test_a_fifo_in_place_of_a_frame_is_one_line_not_a_hang(prid_copy, tmp_path, capsys):
    frame = _first_test_frame(prid_copy)
    os.remove(frame)
    os.mkfifo(frame)
    save_dir = tmp_path / 'run'
    with deadline(60):  # fails instead of blocking in open() for a writer that never comes
        code, _, err = run_train(tiny_options(prid_copy, save_dir, 'test.evaluate', 'True'),
                                 capsys)
    assert one_error(code, err) == f'error: frame "{frame}" is a FIFO (named pipe), not an image file'
    assert not (save_dir / 'run.lock').exists()
