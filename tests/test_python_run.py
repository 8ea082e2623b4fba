"""From Python, what dal-train writes: run_engine leaves results.json, a log and the plots;
a run's log is written line by line, so a killed run's log holds what it printed."""
import glob
import os.path as osp

import torch

from dal_torchreid.engine.diagnostics import AssociationMonitor
from dal_torchreid.experiment.run import run_engine
from dal_torchreid.experiment.results import read_results
from dal_torchreid.experiment.run_log import console_log

from engine_helpers import tiny_datamanager, tiny_engine


def test_run_engine_writes_results_log_and_plots(tiny_prid2011_root, tmp_path):
    torch.manual_seed(0)
    dm = tiny_datamanager(tiny_prid2011_root)
    monitor = AssociationMonitor.from_datamanager(dm)
    engine = tiny_engine(dm, warmup_epochs=1, association_monitor=monitor)
    save_dir = str(tmp_path / 'dal')
    record = run_engine(engine, save_dir=save_dir, max_epoch=2, print_freq=100, ranks=[1])
    written = read_results(save_dir)
    assert written == record
    assert written['engine'] == 'dal' and written['epochs'] == 2
    assert written['frames_seen'] == engine.frames_seen > 0
    assert 0 <= written['targets']['prid2011']['rank1'] <= 1
    assert [h['epoch'] for h in written['associations']] == [1, 2]
    assert osp.isfile(osp.join(save_dir, 'associations.png'))
    logs = glob.glob(osp.join(save_dir, 'train.log-*'))
    assert len(logs) == 1
    with open(logs[0]) as f:
        log = f.read()
    assert '=> epoch 2 associations:' in log and 'Results written to' in log


def test_the_log_holds_each_line_as_soon_as_it_is_printed(tmp_path):
    with console_log(str(tmp_path), 'train.log') as log_file:
        print('epoch 1 done')
        with open(log_file.name) as f:  # read while the run still runs (or was killed)
            assert f.read() == 'epoch 1 done\n'
