"""One run per save_dir: a lock naming its holder, stale locks taken over, an earlier
run's results.json moved aside, temporary files of each write's own; the split protocol
checks --splits first, names a failing split and continues where it stopped."""
import json
import os
import socket
import subprocess
import sys
import time

import pytest

from dal_torchreid.cli import run_splits
from dal_torchreid.experiment import run as experiment
from dal_torchreid.data.frame_reading import BadFrameError
from dal_torchreid.experiment.results import write_results
from dal_torchreid.files.save_dir import LOCK_FILE, SaveDirError, SaveDirLock

from cli_helpers import error_lines, log_text, one_error, run_train, subprocess_env, tiny_options



HOLD = ('import sys, time\n'
        'from dal_torchreid.files.save_dir import SaveDirLock\n'
        'with SaveDirLock(sys.argv[1]):\n'
        '    print("held", flush=True)\n'
        '    time.sleep(120)\n')


def test_a_second_run_is_refused_naming_the_holder(tiny_prid2011_root, tmp_path, capsys):
    save_dir = tmp_path / 'log'
    holder = subprocess.Popen([sys.executable, '-c', HOLD, str(save_dir)], env=subprocess_env(),
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'held'
        code, _, err = run_train(tiny_options(tiny_prid2011_root, save_dir), capsys)
        line = one_error(code, err)
        assert line.startswith(f'error: data.save_dir "{save_dir}" is in use by process '
                               f'{holder.pid} on {socket.gethostname()}, started '), line
        assert f'(lock file "{save_dir / LOCK_FILE}")' in line
        assert not (save_dir / 'model').exists() and not (save_dir / 'results.json').exists()
    finally:
        holder.kill()
        holder.wait()


def test_the_stale_lock_of_a_dead_process_is_taken_over(tiny_prid2011_root, tmp_path, capsys):
    gone = subprocess.Popen([sys.executable, '-c', 'pass'])
    gone.wait()
    save_dir = tmp_path / 'log'
    save_dir.mkdir()
    (save_dir / LOCK_FILE).write_text(json.dumps(
        {'pid': gone.pid, 'host': socket.gethostname(), 'started': '2026-01-01 00:00:00'}))
    with pytest.warns(UserWarning, match='taking over the lock'):
        code, _, err = run_train(tiny_options(tiny_prid2011_root, save_dir, 'train.max_epoch',
                                              '1'), capsys)
    assert code == 0, err
    assert (save_dir / 'results.json').is_file()
    assert not (save_dir / LOCK_FILE).exists()  # released when the run ended


def test_a_lock_of_another_host_is_never_taken_over(tmp_path):
    (tmp_path / LOCK_FILE).write_text(json.dumps(
        {'pid': 1, 'host': 'another-host', 'started': '2026-01-01 00:00:00'}))
    with pytest.raises(SaveDirError, match='in use by process 1 on another-host'):
        SaveDirLock(str(tmp_path)).acquire()


def test_an_earlier_result_is_moved_aside_and_a_failed_run_leaves_none(tiny_prid2011_root,
                                                                        tmp_path, capsys):
    # the earlier run's result, then a run that diverges
    save_dir = tmp_path / 'log'
    save_dir.mkdir()
    first = '{"targets": {"prid2011": {"rank1": 0.5}}}\n'
    (save_dir / 'results.json').write_text(first)
    os.utime(save_dir / 'results.json', (0, time.mktime((2026, 1, 2, 3, 4, 5, 0, 0, -1))))
    with pytest.warns(UserWarning, match='an earlier run'):
        code, _, err = run_train(tiny_options(tiny_prid2011_root, save_dir, 'train.max_epoch',
                                              '1', 'train.lr', '1e30'), capsys)
    assert code == 2  # diverged
    assert not (save_dir / 'results.json').exists()
    assert (save_dir / 'results-2026-01-02-03-04-05.json').read_text() == first


def test_results_are_written_through_a_temporary_file_of_their_own(tmp_path):
    other = tmp_path / 'results.json.tmp'  # the name every run shared before
    other.write_text('another run writing')
    write_results({'targets': {}}, str(tmp_path))
    assert other.read_text() == 'another run writing'
    assert sorted(os.listdir(tmp_path)) == ['results.json', 'results.json.tmp']


def test_run_splits_checks_splits_against_the_split_file_first(tiny_prid2011_root, tmp_path,
                                                               capsys):
    code = run_splits.main(['--splits', '11'] + tiny_options(tiny_prid2011_root,
                                                             tmp_path / 'log'))
    line = one_error(code, capsys.readouterr().err)
    path = os.path.join(tiny_prid2011_root, 'prid2011', 'splits_prid2011.json')
    assert line == f'error: --splits 11: "{path}" holds 10 splits'
    assert not (tmp_path / 'log').exists()


def test_run_splits_names_a_failing_split_and_continues_where_it_stopped(
        tiny_prid2011_root, tmp_path, capsys, monkeypatch):
    save_dir = tmp_path / 'log'
    argv = ['--splits', '2'] + tiny_options(tiny_prid2011_root, save_dir, 'train.max_epoch', '1')
    real = experiment.run_experiment

    def failing_split_1(cfg, save_dir=None):
        if cfg.data.split_id == 1:
            raise BadFrameError('frame "x.png" cannot be read')
        return real(cfg, save_dir)
    monkeypatch.setattr(experiment, 'run_experiment', failing_split_1)
    code = run_splits.main(argv)
    line = one_error(code, capsys.readouterr().err)
    assert line == (f'error: split 1 ("{save_dir / "split1"}"): frame "x.png" cannot be read')
    assert error_lines(log_text(save_dir, 'splits')) == [line]
    split0 = (save_dir / 'split0' / 'results.json').read_text()

    monkeypatch.setattr(experiment, 'run_experiment', real)
    for name in os.listdir(save_dir):
        if name.startswith('splits.log'):
            os.remove(save_dir / name)
    code = run_splits.main(argv)
    out = capsys.readouterr().out
    assert code == 0
    assert f'=> Split 1 of 2: kept "{save_dir / "split0" / "results.json"}"' in out
    assert '=> Split 2 of 2\n' in out
    assert (save_dir / 'split0' / 'results.json').read_text() == split0
    summary = json.loads((save_dir / 'results.json').read_text())
    assert summary['num_splits'] == 2
    assert summary['targets']['prid2011']['rank1']['values'][0] == \
        json.loads(split0)['targets']['prid2011']['rank1']

    runs = []

    def counted(cfg, save_dir=None):
        runs.append(cfg.data.split_id)
        return json.loads(split0)  # a record, without training again
    monkeypatch.setattr(experiment, 'run_experiment', counted)
    capsys.readouterr()
    with pytest.warns(UserWarning, match='an earlier run'):  # the summary, moved aside
        code = run_splits.main(argv + ['--redo'])
    assert code == 0 and 'kept' not in capsys.readouterr().out and runs == [0, 1]
