"""The all-frame evaluation fast path against torchreid's own video test path."""
import copy
import re

import numpy as np
import pytest
import torch

import torchreid

from dal_torchreid.engine import RecordedVideoSoftmaxEngine
from dal_torchreid.data.frames import AllFramesDataset
from dal_torchreid.metrics import pool_by_tracklet


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


@pytest.mark.parametrize('pooling', ['avg', 'max', 'release'])
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


def test_release_pooling_gives_the_same_ranking_on_both_paths(engine, capsys):
    paths = [build_engine(engine.datamanager, engine.model, pooling_method='release',
                          eval_frame_batch_size=b) for b in (0, 5)]
    for path in paths:
        path.test()
    torchreid_path, fast_path = (p.test_results['prid2011'] for p in paths)
    assert fast_path['mAP'] == pytest.approx(torchreid_path['mAP'], abs=1e-6)
    assert np.allclose(fast_path['cmc'], torchreid_path['cmc'], atol=1e-6, rtol=0)


def test_both_directions_records_each_direction_and_their_average(engine):
    both = build_engine(engine.datamanager, engine.model, eval_frame_batch_size=8,
                        both_directions=True)
    both.test()
    result = both.test_results['prid2011']
    forward, backward = (result['directions'][d] for d in ('query_to_gallery', 'gallery_to_query'))
    one = build_engine(engine.datamanager, engine.model, eval_frame_batch_size=8)
    one.test()
    assert forward['mAP'] == pytest.approx(one.test_results['prid2011']['mAP'])
    assert result['mAP'] == pytest.approx((forward['mAP'] + backward['mAP']) / 2)
    assert result['cmc'][0] == pytest.approx((forward['cmc'][0] + backward['cmc'][0]) / 2)
    assert result['evaluation'] == 'both_directions'


def test_release_protocol_on_mars_ranks_all_tracklets(tiny_mars_root):
    dm = tiny_video_datamanager(tiny_mars_root, 'mars')
    torchreid_protocol = build_engine(dm, eval_frame_batch_size=8)
    release = build_engine(dm, torchreid_protocol.model, eval_frame_batch_size=8,
                           protocol='release')
    torchreid_protocol.test()
    release.test()
    result = release.test_results['mars']
    assert result['evaluation'] == 'all_tracklets' and 0 <= result['mAP_step'] <= 1
    assert torchreid_protocol.test_results['mars']['evaluation'] == 'one_direction'
    with pytest.raises(ValueError, match='re-ranking'):
        release.test(rerank=True)


def test_non_finite_test_features_are_an_error_not_a_score(engine):
    broken = build_engine(engine.datamanager, copy.deepcopy(engine.model), eval_frame_batch_size=8)
    # finite weights (NaN weights are refused before evaluation), NaN features
    broken.model.register_forward_hook(lambda module, args, out: out * float('nan'))
    with pytest.raises(FloatingPointError, match='prid2011: the query features hold NaN'):
        broken.test()
    assert 'prid2011' not in broken.test_results
