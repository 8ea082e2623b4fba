"""dal-demo --footage: the ground-truth view the supervised comparison trains on, and the
demo end to end in a tiny mode (tiny footage, resnet18 on 32x16 crops, two epochs)."""
import json
import os.path as osp
import shutil

import pytest
import torchreid

from cli_helpers import deadline, one_error, run_train, tiny_options
from dal_torchreid.footage import read_footage_tracklets, register_footage_dataset
from dal_torchreid.footage.ground_truth import (
    GROUND_TRUTH_SUFFIX, register_ground_truth_view
)
from dal_torchreid.footage.scores import tracklet_persons
from footage_fixtures import (  # noqa: F401  (fixtures)
    forget_footage_datasets, tiny_footage, tiny_tracklets
)

TINY_DEMO = ['data.height', '32', 'data.width', '16', 'model.name', 'resnet18',
             'model.pretrained', 'False', 'train.max_epoch', '1', 'train.stepsize', '[1]',
             'train.batch_size', '8', 'dal.warmup_epochs', '0', 'cc.k1', '4', 'cc.k2', '2',
             'associate.k1', '4', 'associate.k2', '2']


def test_the_view_labels_each_tracklet_with_its_persons_id(tiny_tracklets, tiny_footage):
    root, name = tiny_tracklets
    footage, tracks, _ = tiny_footage
    view = register_ground_truth_view(name)
    assert view == name + GROUND_TRUTH_SUFFIX
    assert register_ground_truth_view(name) == view  # once
    datamanager = torchreid.data.VideoDataManager(root=root, sources=view, height=32, width=16,
                                                  workers=0, use_gpu=False, seq_len=2)
    train = datamanager.train_loader.dataset.train
    tracklets = read_footage_tracklets(osp.join(root, name))
    persons = tracklet_persons(footage, tracks, tracklets)
    people = sorted({p for p in persons if p is not None})
    kept = [(t, p) for t, p in zip(tracklets, persons) if p is not None]
    assert len(train) == len(kept)  # a false track (no person) left out
    assert datamanager.num_train_pids == len(people) >= 2
    for (paths, pid, camid, _), (t, person) in zip(train, kept):
        assert list(paths) == t.paths and camid == t.camid
        assert pid == people.index(person)  # the person's global id, numbered 0 .. P-1


def test_the_view_is_no_folder_plain_training_reaches(tiny_tracklets, tmp_path, capsys):
    root, name = tiny_tracklets
    register_footage_dataset(name)
    view = register_ground_truth_view(name)
    options = [*tiny_options(root, tmp_path), 'train.max_epoch', '1', 'video.seq_len', '2',
               'video.sample_method', 'evenly']
    # the footage data set itself stays refused to a supervised engine
    code, _, err = run_train(['--engine', 'triplet', *options, '-s', name], capsys)
    assert 'trains with identity labels' in one_error(code, err)
    # in a fresh process (nothing registered in Python) the view's name is unknown
    from dal_torchreid.data.datamanager import registered_video_datasets
    del vars(torchreid.data.datasets)['__video_datasets'][view]
    assert view not in registered_video_datasets()
    code, _, err = run_train(['--engine', 'triplet', *options, '-s', view], capsys)
    assert view in one_error(code, err)


def test_the_view_names_a_missing_ground_truth_file(tiny_footage, tmp_path):
    from dal_torchreid.footage import make_tracklets
    from footage_fixtures import TINY_SETTINGS
    footage, tracks, _ = tiny_footage
    copy = tmp_path / 'footage'
    shutil.copytree(footage, copy)
    (copy / 'cam2' / 'gt' / 'gt.txt').unlink()
    make_tracklets(str(copy), tracks, str(tmp_path), 'nogt', TINY_SETTINGS,
                   stream=open(osp.devnull, 'w'))
    view = register_ground_truth_view('nogt')
    with pytest.raises(Exception, match='cam2/gt/gt.txt'):
        torchreid.data.VideoDataManager(root=str(tmp_path), sources=view, height=32, width=16,
                                        workers=0, use_gpu=False, seq_len=2)


def test_demo_footage_prints_the_four_models_scores(tiny_footage, tmp_path, capsys):
    from dal_torchreid.cli.demo import main
    from dal_torchreid.demo.footage import demo_footage_names
    footage, tracks, _ = tiny_footage
    root, save_dir = tmp_path / 'data', tmp_path / 'log'
    folder = root / demo_footage_names(1)[0]
    shutil.copytree(footage, folder / 'footage')  # the tiny footage in the demo's place
    shutil.copytree(tracks, folder / 'tracks')
    with pytest.warns(UserWarning, match='other settings'), deadline(600):
        code = main(['--footage', '--root', str(root), '--save-dir', str(save_dir),
                     '--threads', '1', *TINY_DEMO])
    out = capsys.readouterr().out
    assert code == 0
    scores = json.load(open(save_dir / 'footage_scores.json'))['runs']
    assert list(scores) == ['untrained', 'dal', 'cc', 'supervised']
    for run, row in scores.items():
        assert 0 <= row['f1'] <= 1 and 0 <= row['idf1'] <= 1
        line = next(li for li in out.splitlines() if li.startswith(
            {'untrained': 'untrained', 'dal': 'DAL', 'cc': 'Cluster', 'supervised': 'triplet'}[run]))
        assert f'{row["f1"]:.3f}' in line and f'{row["idf1"]:.3f}' in line
    assert scores['untrained']['frames_seen'] == 0
    assert scores['dal']['frames_seen'] > 0 and scores['cc']['frames_seen'] > 0
    supervised = json.load(open(save_dir / 'supervised' / 'results.json'))
    name = demo_footage_names(1)[1]
    assert supervised['engine'] == 'triplet' and supervised['frames_seen'] > 0
    assert supervised['config']['data']['sources'] == [name + GROUND_TRUTH_SUFFIX]
    # every model's association: the same tracklets (all of them), scored alike
    assert set(supervised['footage_scores']) == {name + GROUND_TRUTH_SUFFIX}
    summaries = [json.load(open(save_dir / run / 'association' / key / 'summary.json'))
                 for run, key in (('untrained', name), ('dal', name),
                                  ('supervised', name + GROUND_TRUTH_SUFFIX))]
    assert len({s['tracklets'] for s in summaries}) == 1
    assert 'the supervised model\'s (target 0.9x)' in out
    # each target in words, as the scores say, and where each run's report is
    best = max(('dal', 'cc'), key=lambda k: scores[k]['f1'])
    for against, times in (('untrained', 2), ('supervised', 0.9)):
        met = scores[best]['f1'] >= times * scores[against]['f1']
        [line] = [li for li in out.splitlines() if li.startswith(f'Target {times:g}x')]
        assert line.split(': ')[1].startswith('MET' if met else 'NOT MET')
    for run, row in scores.items():
        assert osp.isfile(row['report']) and f'  {run}: {row["report"]}' in out


@pytest.mark.parametrize('dal_f1, expected', [
    (0.65, ['MET (DAL (no labels): 2.17x)', 'MET (DAL (no labels): 0.93x)']),
    (0.45, ['NOT MET (DAL (no labels): 1.50x)', 'NOT MET (DAL (no labels): 0.64x)']),
])
def test_the_table_says_whether_each_target_was_met(dal_f1, expected):
    from dal_torchreid.demo.footage import format_footage_table
    row = {'precision': 0.5, 'recall': 0.5, 'idf1': 0.5, 'frames_seen': 1, 'wall_time_s': 1.0}
    rows = {'untrained': dict(row, f1=0.3), 'dal': dict(row, f1=dal_f1),
            'cc': dict(row, f1=0.4), 'supervised': dict(row, f1=0.7)}
    lines = format_footage_table(rows).splitlines()
    assert [li for li in lines if li.startswith('Target')] == [
        f'Target 2x the untrained backbone\'s pairwise F1: {expected[0]}',
        f'Target 0.9x the supervised model\'s pairwise F1: {expected[1]}']
