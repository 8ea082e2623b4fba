"""What a label-free run on footage records: DAL's per-epoch statistic counts what its name
says (S14), a resumed run keeps the epochs before the resume (S8), and an association
that fails after training leaves the training's results.json (issue 34)."""
import json
import os
import shutil

import pytest
import torch

from cli_helpers import one_error, run_train, tiny_options
from dal_torchreid.engine.label_free_statistics import (
    CycleConsistencyMonitor, cycle_consistency, mutual_best_matches
)
from dal_torchreid.footage import make_tracklets, read_footage_tracklets
from footage_fixtures import (  # noqa: F401  (fixtures)
    TINY_SETTINGS, forget_footage_datasets, tiny_footage, tiny_tracklets
)

# two cameras, three tracklets each; a0-b0 and a1-b1 are each other's best match; a2's best
# is b1 (taken by a1), b2's is a0 (taken by b0); a zero anchor (never written) matches nothing
KNOWN = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0],
                      [0.9, 0.1], [0.1, 0.9], [0.8, 0.2]])
KNOWN_CAMERAS = [0, 0, 0, 1, 1, 1]


def test_mutual_best_matches_on_a_known_case():
    assert mutual_best_matches(KNOWN, KNOWN_CAMERAS) == [(0, 3), (1, 4)]
    assert cycle_consistency(KNOWN, KNOWN_CAMERAS) == {'num_associations': 2,
                                                       'associated_fraction': 4 / 6}
    never_written = torch.cat([KNOWN, torch.zeros(1, 2)])
    assert mutual_best_matches(never_written, KNOWN_CAMERAS + [1]) == [(0, 3), (1, 4)]
    # a third camera: a0's best is now c0, and c0's is a0; b0 is left without a pair
    third = torch.cat([KNOWN, torch.tensor([[1.0, 0.01]])])
    assert mutual_best_matches(third, KNOWN_CAMERAS + [2]) == [(0, 6), (1, 4)]


def test_22_tracklets_make_at_most_11_pairs_whatever_the_epoch_associated():
    """The report of the issue: 22 tracklets, cyclic ranking associating 87 distinct pairs
    over the epoch's steps. The statistic counts mutual best matches: at most 11 pairs,
    a fraction of at most 1, each pair once."""
    generator = torch.Generator().manual_seed(0)
    anchors = torch.randn(22, 16, generator=generator)
    cameras = torch.tensor([0] * 8 + [1] * 7 + [2] * 7)
    monitor = CycleConsistencyMonitor()
    for step in range(30):  # every tracklet associated with several partners over the epoch
        a = torch.randint(0, 22, (6,), generator=generator)
        b = torch.randint(0, 22, (6,), generator=generator)
        keep = cameras[a] != cameras[b]
        start = torch.tensor([0, 8, 15])
        monitor.add(torch.stack([cameras[a], a - start[cameras[a]], cameras[b],
                                 b - start[cameras[b]]], 1)[keep])
    monitor.observe_anchors(anchors, cameras)
    stats = monitor.end_epoch(1)
    pairs = mutual_best_matches(anchors, cameras)
    assert stats['num_associations'] == len(pairs) <= 11
    assert stats['associated_fraction'] == 2 * len(pairs) / 22 < 1
    assert stats['pairs_made'] > 11  # what the old count reported as the pairs
    members = [i for pair in pairs for i in pair]
    assert len(members) == len(set(members))  # one pair per tracklet at most
    for i, j in pairs:
        assert cameras[i] != cameras[j]


def footage_options(root, save_dir, engine, epochs):
    extra = {'dal': [],
             'cc': ['train.batch_size', '32', 'video.seq_len', '4', 'cc.clips_per_identity',
                    '2', 'cc.min_samples', '2', 'cc.k1', '4', 'cc.k2', '2']}[engine]
    return ['--engine', engine, *tiny_options(root, save_dir), 'train.max_epoch', str(epochs),
            'dal.warmup_epochs', '0', *extra]


@pytest.mark.parametrize('engine', ['dal', 'cc'])
def test_a_resumed_footage_run_keeps_the_label_free_epochs_before_it(tiny_tracklets, tmp_path,
                                                                      capsys, engine):
    root, name = tiny_tracklets
    code, _, err = run_train([*footage_options(root, tmp_path, engine, 1), '-s', name], capsys,
                             seconds=300)
    assert code == 0, err[-2000:]
    first = json.load(open(tmp_path / 'results.json'))['label_free']
    latest = tmp_path / 'model' / 'checkpoint-latest.pth.tar'
    code, _, err = run_train([*footage_options(root, tmp_path, engine, 2), '-s', name,
                              'model.resume', str(latest)], capsys, seconds=300)
    assert code == 0, err[-2000:]
    record = json.load(open(tmp_path / 'results.json'))
    assert record['resumed_from_epoch'] == 1
    assert [e['epoch'] for e in record['label_free']] == [1, 2]
    assert record['label_free'][0] == first[0]
    if engine == 'dal':
        tracklets = len(read_footage_tracklets(os.path.join(root, name)))
        for stats in record['label_free']:
            assert stats['num_associations'] <= tracklets // 2
            assert stats['associated_fraction'] == pytest.approx(
                2 * stats['num_associations'] / tracklets, abs=1e-4)


def test_an_association_failing_after_training_keeps_the_trainings_results(
        tiny_footage, tmp_path, capsys):
    footage, tracks, _ = tiny_footage
    copy = tmp_path / 'footage'
    shutil.copytree(footage, copy)
    make_tracklets(str(copy), tracks, str(tmp_path / 'data'), 'shop', TINY_SETTINGS,
                   stream=open(os.devnull, 'w'))
    gt = copy / 'cam2' / 'gt' / 'gt.txt'
    gt.write_text(gt.read_text() + 'not,a,box\n')  # found by the association, after training
    save_dir = tmp_path / 'run'
    code, _, err = run_train([*footage_options(tmp_path / 'data', save_dir, 'dal', 1),
                              '-s', 'shop'], capsys, seconds=300)
    line = one_error(code, err)
    assert str(gt) in line and 'after training' in line
    assert f'"{save_dir / "results.json"}"' in line
    record = json.load(open(save_dir / 'results.json'))
    assert [e['epoch'] for e in record['label_free']] == [1] and 'footage_scores' not in record
    assert (save_dir / 'model' / 'checkpoint-latest.pth.tar').is_file()
