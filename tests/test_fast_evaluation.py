"""The all-frame evaluation fast path against torchreid's own video test path."""
import re

import numpy as np
import pytest
import torch

import torchreid

from dal_torchreid.engine import RecordedVideoSoftmaxEngine
from dal_torchreid.data.frames import AllFramesDataset
from dal_torchreid.engine.features import pool_by_tracklet


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    """One torch thread: steadier and faster on a small shared CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_video_datamanager(root, source):
    return torchreid.data.VideoDataManager(
        root=root, sources=source, height=32, width=16, transforms=[],
        use_gpu=False, batch_size_train=2, batch_size_test=1, workers=0,
        seq_len=4, sample_method='all'
    )


def build_engine(datamanager, model=None, **kwargs):
    """A softmax engine; engines built with the same ``model`` share its weights."""
    if model is None:
        torch.manual_seed(0)
        model = torchreid.models.build_model('resnet18', num_classes=datamanager.num_train_pids,
                                             loss='softmax', pretrained=False)
    optimizer = torchreid.optim.build_optimizer(model, optim='sgd', lr=0.01)
    return RecordedVideoSoftmaxEngine(datamanager, model, optimizer, use_gpu=False, **kwargs)


@pytest.fixture(scope='module')
def datamanager(tiny_prid2011_root):
    return tiny_video_datamanager(tiny_prid2011_root, 'prid2011')


@pytest.fixture(scope='module')
def engine(datamanager):
    return build_engine(datamanager)


def result_lines(text):
    return [line for line in text.splitlines() if re.match(r'(mAP|Rank-|\*\* Results|CMC)', line)]


@pytest.mark.parametrize('source', ['prid2011', 'mars'])
def test_fast_path_equals_torchreid_all_frames_path(source, request, capsys):
    root = request.getfixturevalue(f'tiny_{source}_root')
    reference_engine = build_engine(tiny_video_datamanager(root, source))
    reference_engine.test()
    reference = reference_engine.test_results[source]
    ref_out = capsys.readouterr().out
    fast_engine = build_engine(reference_engine.datamanager, reference_engine.model,
                               eval_frame_batch_size=7)  # batches cut across tracklets
    fast_engine.test()
    fast = fast_engine.test_results[source]
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
    reference = build_engine(engine.datamanager, engine.model, pooling_method=pooling)
    fast = build_engine(engine.datamanager, engine.model, pooling_method=pooling,
                        eval_frame_batch_size=4)
    engine.model.eval()
    with torch.no_grad():
        ref, ref_pids, ref_camids, _ = reference._extract(loader)
        engine.model.train()  # the fast path evaluates in eval mode and restores the mode
        feats, pids, camids, _ = fast._extract(loader)
    assert engine.model.training
    assert feats.shape == ref.shape
    torch.testing.assert_close(feats, ref, atol=1e-5, rtol=1e-5)
    assert np.array_equal(pids, ref_pids) and np.array_equal(camids, ref_camids)


def test_fast_path_ignores_the_loader_sampling(engine):
    loader = engine.test_loader['prid2011']['query']
    fast = build_engine(engine.datamanager, engine.model, eval_frame_batch_size=16)
    engine.model.eval()
    try:
        with torch.no_grad():
            every, _, _, _ = fast._extract(loader)
            loader.dataset.sample_method = 'evenly'
            sampled, _, _, _ = fast._extract(loader)
    finally:
        loader.dataset.sample_method = 'all'
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
    frames = AllFramesDataset([item[0] for item in data])
    assert len(frames) == sum(len(item[0]) for item in data)
    assert frames.frame_tracklet.tolist() == [t for t, item in enumerate(data) for _ in item[0]]
    assert frames.frame_position.tolist() == [i for item in data for i in range(len(item[0]))]
    with pytest.raises(ValueError, match='test tracklet 1 has no frames'):
        AllFramesDataset([('a.png',), ()], name='test tracklet')
