"""A resumed run's record covers every segment; a re-run resumes an unfinished run by
itself; a new run never overwrites an earlier run's checkpoints."""
import json
import os
import shutil

from cli_helpers import run_train, tiny_options
from dal_torchreid.engine.unsupervised import UnsupervisedVideoEngine

SLOW = 600  # seconds a tiny run may take on a loaded machine


def results(save_dir):
    with open(save_dir / 'results.json') as f:
        return json.load(f)


def test_resumed_run_counts_every_segment(tiny_prid2011_root, tmp_path, capsys):
    save_dir = tmp_path / 'dal'
    code, _, err = run_train(tiny_options(tiny_prid2011_root, save_dir, 'train.max_epoch', 1),
                             capsys, seconds=SLOW)
    assert code == 0, err
    first = results(save_dir)
    latest = save_dir / 'model' / 'checkpoint-latest.pth.tar'
    code, _, err = run_train(tiny_options(tiny_prid2011_root, save_dir, 'train.max_epoch', 2,
                                          'model.resume', latest), capsys, seconds=SLOW)
    assert code == 0, err
    record = results(save_dir)
    assert record['epochs'] == 2 and record['resumed_from_epoch'] == 1
    assert record['frames_seen'] == 2 * first['frames_seen'] > 0
    assert [e['epoch'] for e in record['associations']] == [1, 2]
    assert record['associations'][0] == first['associations'][0]


def keep_first_latest(monkeypatch, save_dir):
    """Where a copy of ``checkpoint-latest.pth.tar`` as epoch 1 wrote it will be kept."""
    kept = save_dir.parent / 'latest-1.pth.tar'
    write = UnsupervisedVideoEngine.write_latest_checkpoint

    def write_and_keep(engine):
        write(engine)
        if engine.epoch == 0:
            shutil.copy(save_dir / 'model' / 'checkpoint-latest.pth.tar', kept)
    monkeypatch.setattr(UnsupervisedVideoEngine, 'write_latest_checkpoint', write_and_keep)
    return kept


def test_a_rerun_resumes_an_unfinished_run_and_restart_moves_it_aside(tiny_prid2011_root,
                                                                      tmp_path, capsys,
                                                                      monkeypatch):
    save_dir = tmp_path / 'dal'
    options = tiny_options(tiny_prid2011_root, save_dir, 'train.max_epoch', 2, 'test.eval_freq', 1)
    kept = keep_first_latest(monkeypatch, save_dir)
    code, _, err = run_train(options, capsys, seconds=SLOW)
    assert code == 0, err
    monkeypatch.undo()
    done = results(save_dir)
    # as a run killed after epoch 1 leaves it: its epoch-1 checkpoint, no result
    os.replace(kept, save_dir / 'model' / 'checkpoint-latest.pth.tar')
    os.remove(save_dir / 'results.json')
    code, out, err = run_train(options, capsys, seconds=SLOW)  # the same command again
    assert code == 0, err
    latest = save_dir / 'model' / 'checkpoint-latest.pth.tar'
    assert f'=> resuming the unfinished run in "{save_dir}" from "{latest}" (epoch 1 of 2)' in out
    record = results(save_dir)
    assert record['resumed_from_epoch'] == 1
    assert record['frames_seen'] == done['frames_seen']
    assert record['targets'] == done['targets']  # resumed exactly
    # train.restart True: starts over, the unfinished run moved aside whole
    os.remove(save_dir / 'results.json')
    code, out, err = run_train(options + ['train.max_epoch', 3, 'train.restart', True], capsys,
                               seconds=SLOW)
    assert code == 0, err
    assert 'resuming' not in out and 'resumed_from_epoch' not in results(save_dir)
    assert results(save_dir)['epochs'] == 3
    assert [p for p in os.listdir(save_dir) if p.startswith('model-')]


def test_a_new_run_moves_a_finished_runs_checkpoints_aside(tiny_prid2011_root, tmp_path,
                                                          capsys):
    save_dir = tmp_path / 'dal'
    code, _, err = run_train(tiny_options(tiny_prid2011_root, save_dir, 'train.max_epoch', 1),
                             capsys, seconds=SLOW)
    assert code == 0, err
    weights = (save_dir / 'model' / 'model.pth.tar-1').read_bytes()
    first = (save_dir / 'results.json').read_text()
    # another seed into the same save_dir
    code, _, err = run_train(tiny_options(tiny_prid2011_root, save_dir, 'train.max_epoch', 1,
                                          'train.seed', 4), capsys, seconds=SLOW)
    assert code == 0, err
    moved = sorted(p for p in os.listdir(save_dir) if '-20' in p and not p.startswith('train'))
    stamp = moved[0].split('-', 1)[1].rsplit('.', 1)[0]
    assert (save_dir / f'results-{stamp}.json').read_text() == first
    assert (save_dir / f'model-{stamp}' / 'model.pth.tar-1').read_bytes() == weights
    assert (save_dir / f'config-{stamp}.yaml').is_file()
    assert json_seed(save_dir / 'results.json') == 4


def json_seed(path):
    with open(path) as f:
        return json.load(f)['seed']
