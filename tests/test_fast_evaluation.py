"""The all-frame evaluation fast path against torchreid's own video test path."""
import re

import numpy as np
import pytest
import torch

import torchreid

from dal_torchreid.engine import RecordedVideoSoftmaxEngine
from dal_torchreid.engine.evaluation import AllFramesDataset
from dal_torchreid.metrics import pool_by_tracklet


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    """One torch thread: steadier and faster on a small shared CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def build_engine(root, source):
    datamanager = torchreid.data.VideoDataManager(
        root=root, sources=source, height=32, width=16, transforms=[],
        use_gpu=False, batch_size_train=2, batch_size_test=1, workers=0,
        seq_len=4, sample_method='all'
    )
    torch.manual_seed(0)
    model = torchreid.models.build_model('resnet18', num_classes=datamanager.num_train_pids,
                                         loss='softmax', pretrained=False)
    optimizer = torchreid.optim.build_optimizer(model, optim='sgd', lr=0.01)
    return RecordedVideoSoftmaxEngine(datamanager, model, optimizer, use_gpu=False)


@pytest.fixture(scope='module')
def engine(tiny_prid2011_root):
    return build_engine(tiny_prid2011_root, 'prid2011')


def result_lines(text):
    return [line for line in text.splitlines() if re.match(r'(mAP|Rank-|\*\* Results|CMC)', line)]


@pytest.mark.parametrize('source', ['prid2011', 'mars'])
def test_fast_path_equals_torchreid_all_frames_path(source, request, capsys):
    root = request.getfixturevalue('tiny_{}_root'.format(source))
    engine = build_engine(root, source)
    engine.test()
    reference = engine.test_results[source]
    ref_out = capsys.readouterr().out
    engine.eval_frame_batch_size = 7  # batches cut across tracklets
    engine.test()
    fast = engine.test_results[source]
    fast_out = capsys.readouterr().out
    assert fast['mAP'] == pytest.approx(reference['mAP'], abs=1e-6)
    assert np.allclose(fast['cmc'], reference['cmc'], atol=1e-6, rtol=0)
    assert result_lines(fast_out) == result_lines(ref_out)
    assert len(result_lines(ref_out)) == 7
    shapes = re.findall(r'obtained (\d+-by-\d+) matrix', ref_out)
    assert re.findall(r'obtained (\d+-by-\d+) matrix', fast_out) == shapes


@pytest.mark.parametrize('pooling', ['avg', 'max'])
def test_fast_features_match_per_tracklet_features(engine, pooling):
    loader = engine.test_loader['prid2011']['gallery']
    engine.pooling_method = pooling
    engine.model.eval()
    try:
        with torch.no_grad():
            ref, ref_pids, ref_camids, _ = engine._extract(loader)
            engine.eval_frame_batch_size = 4
            engine.model.train()  # the fast path evaluates in eval mode and restores the mode
            fast, pids, camids, _ = engine._extract(loader)
        assert engine.model.training
    finally:
        engine.eval_frame_batch_size = 0
        engine.pooling_method = 'avg'
    assert fast.shape == ref.shape
    torch.testing.assert_close(fast, ref, atol=1e-5, rtol=1e-5)
    assert np.array_equal(pids, ref_pids) and np.array_equal(camids, ref_camids)


def test_fast_path_ignores_the_loader_sampling(engine):
    loader = engine.test_loader['prid2011']['query']
    engine.model.eval()
    engine.eval_frame_batch_size = 16
    try:
        with torch.no_grad():
            every, _, _, _ = engine._extract(loader)
            loader.dataset.sample_method = 'evenly'
            sampled, _, _, _ = engine._extract(loader)
    finally:
        loader.dataset.sample_method = 'all'
        engine.eval_frame_batch_size = 0
    torch.testing.assert_close(sampled, every)


def test_pool_by_tracklet_accumulates_across_batches():
    feats = torch.tensor([[1., 2.], [3., -4.], [5., 0.], [-1., 8.]])
    tracklet = torch.tensor([0, 0, 1, 2])
    sums = pool_by_tracklet(feats[:1], tracklet[:1], 3, 'avg')
    sums = pool_by_tracklet(feats[1:], tracklet[1:], 3, 'avg', sums)
    assert sums.tolist() == [[4., -2.], [5., 0.], [-1., 8.]]
    maxes = pool_by_tracklet(feats[:3], tracklet[:3], 3, 'max')
    maxes = pool_by_tracklet(feats[3:], tracklet[3:], 3, 'max', maxes)
    assert maxes.tolist() == [[3., 2.], [5., 0.], [-1., 8.]]
    with pytest.raises(ValueError, match="'median'"):
        pool_by_tracklet(feats, tracklet, 3, 'median')


def test_all_frames_dataset_indexes_tracklets(engine):
    data = engine.test_loader['prid2011']['query'].dataset.data
    frames = AllFramesDataset(data)
    assert len(frames) == sum(len(item[0]) for item in data)
    assert frames.frame_tracklet.tolist() == [t for t, item in enumerate(data) for _ in item[0]]
    with pytest.raises(ValueError, match='test tracklet 1'):
        AllFramesDataset([(('a.png',), 3, 0, 0), ((), 4, 1, 0)])
