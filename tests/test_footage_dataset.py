"""A tracklet data set cut from footage: torchreid loads it, the label-free engines train on
it and report what needs no identities, supervised engines and evaluation are refused."""
import json
import os.path as osp

import numpy as np
import pytest
import torch

import torchreid

from cli_helpers import one_error, run_train, tiny_options
from dal_torchreid.footage import (
    UNKNOWN_PID, read_footage_tracklets, read_manifest, register_footage_dataset
)
from dal_torchreid.engine.label_free_statistics import cluster_statistics, cycle_consistency
from footage_fixtures import (  # noqa: F401  (fixtures)
    tiny_footage, tiny_tracklets, forget_footage_datasets
)


def test_torchreid_loads_one_tracklet_per_camera_and_track_without_identities(tiny_tracklets):
    root, name = tiny_tracklets
    register_footage_dataset(name)
    datamanager = torchreid.data.VideoDataManager(root=root, sources=name, targets=[], height=32,
                                                  width=16, workers=0, use_gpu=False, seq_len=4)
    train = datamanager.train_loader.dataset.train
    rows = read_manifest(osp.join(root, name, 'manifest.csv'))
    assert len(train) == len({(r['camera'], r['track']) for r in rows})
    assert {pid for _, pid, _, _ in train} == {UNKNOWN_PID}
    assert {camid for _, _, camid, _ in train} == {0, 1, 2}
    for tracklet in read_footage_tracklets(osp.join(root, name)):
        assert tracklet.frames == sorted(tracklet.frames)
        assert tracklet.paths == [osp.join(root, name, tracklet.camera, f'{tracklet.track:06d}',
                                           f'{f:06d}.jpg') for f in tracklet.frames]


def test_a_torchreid_name_is_refused():
    with pytest.raises(ValueError, match='"mars" is torchreid'):
        register_footage_dataset('mars')


def options(root, save_dir, *extra):
    return [*tiny_options(root, save_dir), 'train.max_epoch', '2', *extra]


@pytest.mark.parametrize('engine, extra, key', [
    ('dal', [], 'associated_fraction'),
    ('cc', ['train.batch_size', '32', 'video.seq_len', '4', 'cc.clips_per_identity', '2',
            'cc.min_samples', '2', 'cc.k1', '4', 'cc.k2', '2'], 'num_clusters'),
])
def test_label_free_engines_train_and_report_no_rank1(tiny_tracklets, tmp_path, capsys, engine,
                                                      extra, key):
    root, name = tiny_tracklets
    code, out, err = run_train(['--engine', engine, *options(root, tmp_path, *extra), '-s', name],
                               capsys, seconds=300)
    assert code == 0, err[-2000:]
    record = json.load(open(tmp_path / 'results.json'))
    assert record['targets'] == {} and record['frames_seen'] > 0
    stats = record['label_free'][-1]
    assert stats['epoch'] == 2 and key in stats
    if engine == 'dal':
        assert 0 <= stats['associated_fraction'] <= 1
    assert 'No evaluation' in out and 'rank' not in json.dumps(record['label_free'])


def test_supervised_engine_and_evaluation_refused_in_one_line(tiny_tracklets, tmp_path, capsys):
    root, name = tiny_tracklets
    code, _, err = run_train(['--engine', 'softmax', *options(root, tmp_path, 'video.seq_len', '4',
                                                           'video.sample_method', 'evenly'),
                              '-s', name], capsys)
    assert 'trains with identity labels' in one_error(code, err) and f'"{name}"' in err
    code, _, err = run_train([*options(root, tmp_path), '-s', name, '-t', name], capsys)
    assert 'no identities to evaluate' in one_error(code, err)


def test_cycle_consistency_counts_tracklets_and_distinct_pairs():
    rows = torch.tensor([[0, 0, 1, 2], [1, 2, 0, 0], [0, 1, 1, 0]])
    # 8 tracklets, cameras 0 and 1; the anchors of 0-4 and 1-5 are each other's best match
    anchors, cameras = torch.eye(8)[[0, 1, 2, 3, 0, 1, 6, 7]], [0] * 4 + [1] * 4
    assert cycle_consistency(anchors, cameras, rows) == {
        'num_associations': 2, 'associated_fraction': 0.5, 'pairs_made': 2}
    assert cycle_consistency(torch.zeros(8, 4), cameras,
                             torch.zeros(0, 4))['associated_fraction'] == 0.0


def test_cluster_statistics():
    stats = cluster_statistics(np.array([0, 0, 0, 1, 1, 2, -1, -1]))
    assert stats == {'num_clusters': 2, 'outlier_fraction': 3 / 8, 'mean_cluster_size': 2.5,
                     'max_cluster_size': 3}
