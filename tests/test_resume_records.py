"""A resumed run's record covers every segment; a re-run resumes an unfinished run by
itself; a new run never overwrites an earlier run's checkpoints."""
import json
import os

from cli_helpers import run_train, tiny_options


def results(save_dir):
    with open(save_dir / 'results.json') as f:
        return json.load(f)


def test_resumed_run_counts_every_segment(tiny_prid2011_root, tmp_path, capsys):
    save_dir = tmp_path / 'dal'
    code, _, err = run_train(tiny_options(tiny_prid2011_root, save_dir, 'train.max_epoch', 1),
                             capsys)
    assert code == 0, err
    first = results(save_dir)
    latest = save_dir / 'model' / 'checkpoint-latest.pth.tar'
    code, _, err = run_train(tiny_options(tiny_prid2011_root, save_dir, 'train.max_epoch', 2,
                                          'model.resume', latest), capsys)
    assert code == 0, err
    record = results(save_dir)
    assert record['epochs'] == 2 and record['resumed_from_epoch'] == 1
    assert record['frames_seen'] == 2 * first['frames_seen'] > 0
    assert [e['epoch'] for e in record['associations']] == [1, 2]
    assert record['associations'][0] == first['associations'][0]
