"""Tracklet pooling and the release's evaluation protocols on hand-made features."""
import math

import numpy as np
import pytest
import torch

import torchreid

from dal_torchreid.metrics import (
    average_precision, evaluate_both_directions, evaluate_release_protocol,
    evaluate_release_rank, finalize_pooled, pool_by_tracklet, pool_frames, release_evaluation
)

FRAMES = torch.tensor([[3., 4.], [0., -2.], [1., 0.]])


def test_release_pooling_normalises_frames_then_max_then_normalises():
    # frames normalised: [.6, .8], [0, -1], [1, 0]; max: [1, .8]; |[1, .8]| = sqrt(1.64)
    norm = math.sqrt(1.64)
    expected = torch.tensor([1 / norm, 0.8 / norm])
    torch.testing.assert_close(pool_frames(FRAMES, 'release'), expected)
    # max of the raw frames is [3, 4]: normalising only at the end would give [.6, .8]
    assert pool_frames(FRAMES, 'max').tolist() == [3., 4.]
    torch.testing.assert_close(pool_frames(FRAMES, 'avg'), torch.tensor([4 / 3, 2 / 3]))
    # a batch of clips (B, S, D) pools each clip
    clips = torch.stack([FRAMES, FRAMES.flip(0) * 2])
    torch.testing.assert_close(pool_frames(clips, 'release'), torch.stack([expected, expected]))
    with pytest.raises(ValueError, match="pooling_method .*'median'"):
        pool_frames(FRAMES, 'median')
    with pytest.raises(ValueError, match='at least one frame'):
        pool_frames(FRAMES[:0], 'avg')


@pytest.mark.parametrize('method', ['avg', 'max', 'release'])
def test_batched_accumulation_equals_pooling_each_tracklet(method):
    gen = torch.Generator().manual_seed(0)
    feats = torch.randn(11, 5, generator=gen)
    tracklet = torch.tensor([2, 0, 0, 1, 2, 2, 0, 1, 1, 1, 2])
    pooled = None
    for start in range(0, 11, 4):  # batches across tracklet boundaries
        pooled = pool_by_tracklet(feats[start:start + 4], tracklet[start:start + 4], 3, method,
                                  pooled)
    counts = torch.bincount(tracklet, minlength=3)
    got = finalize_pooled(pooled, counts, method)
    for t in range(3):
        torch.testing.assert_close(got[t], pool_frames(feats[tracklet == t], method))


def test_finalize_refuses_a_tracklet_without_frames():
    pooled = pool_by_tracklet(FRAMES, torch.tensor([0, 0, 2]), 3, 'release')
    with pytest.raises(ValueError, match=r'tracklets \[1\] have no frames'):
        finalize_pooled(pooled, torch.tensor([2, 0, 1]), 'release')


def test_both_directions_averages_query_to_gallery_and_back():
    # 1-D features, squared Euclidean distances; camera 0 queries, camera 1 gallery
    qf = torch.tensor([[0.0], [1.0], [3.0]])
    gf = torch.tensor([[0.6], [2.4], [2.9]])
    pids = np.array([0, 1, 2])
    distmat = torchreid.metrics.compute_distance_matrix(qf, gf).numpy()
    result = evaluate_both_directions(distmat, pids, pids, np.zeros(3, int), np.ones(3, int))
    fwd, bwd = result['query_to_gallery'], result['gallery_to_query']
    # query -> gallery: q0 (0.0) nearest g0 .36 hit; q1 (1.0) nearest g0 .16 miss, g1 1.96
    # second; q2 (3.0) nearest g2 .01 hit -> rank-1 2/3, APs 1, 1/2, 1 -> mAP 5/6
    assert fwd['cmc'][0] == pytest.approx(2 / 3) and fwd['cmc'][1] == pytest.approx(1)
    assert fwd['mAP'] == pytest.approx(5 / 6)
    # gallery -> query: g0 (.6) nearest q1 .16 miss; g1 (2.4) nearest q2 .36 miss; g2 (2.9)
    # nearest q2 .01 hit -> rank-1 1/3, APs 1/2, 1/2, 1 -> mAP 2/3
    assert bwd['cmc'][0] == pytest.approx(1 / 3) and bwd['mAP'] == pytest.approx(2 / 3)
    assert result['cmc'][0] == pytest.approx(0.5) and result['mAP'] == pytest.approx(0.75)
    assert len(result['cmc']) == 3
    with pytest.raises(ValueError, match='reverse_distmat must be'):
        evaluate_both_directions(distmat, pids, pids, np.zeros(3, int), np.ones(3, int),
                                 reverse_distmat=distmat[:2])


def test_average_precision_trapezoid_and_step():
    # matches at ranks 2, 3, 5 of 5 (3 good):
    # step: (1/2 + 2/3 + 3/5) / 3 = (15 + 20 + 18) / 30 / 3 = 53/90
    # trapezoid, per rank (recall step) * (precision before + precision) / 2:
    #   rank 1 miss: recall 0 -> 0, precision 1 -> 0;  rank 2 hit: 1/3 * (0 + 1/2) / 2 = 1/12
    #   rank 3 hit: 1/3 * (1/2 + 2/3) / 2 = 7/36;  rank 4 miss: precision 2/4, no recall step
    #   rank 5 hit: 1/3 * (1/2 + 3/5) / 2 = 11/60;  sum (15 + 35 + 33) / 180 = 83/180
    matches = np.array([0, 1, 1, 0, 1], dtype=bool)
    assert average_precision(matches, 'step') == pytest.approx(53 / 90)
    assert average_precision(matches, 'trapezoid') == pytest.approx(83 / 180)
    # a first hit at rank 1 counts in full: [1, 0, 1]: (1 + 1)/2 * 1/2 + (1/2 + 2/3)/2 * 1/2
    assert average_precision(np.array([1, 0, 1]), 'trapezoid') == pytest.approx(19 / 24)
    with pytest.raises(ValueError, match='ap_method'):
        average_precision(matches, 'interpolated')


# every test tracklet (pid, camera); 0 and 1 are the queries; -1 junk, 0 a distractor
TRACKLETS = [(1, 0), (1, 1), (-1, 2), (2, 1), (1, 0), (1, 2), (3, 1), (1, 3), (0, 2)]
# each query's gallery order, nearest first (distance = position)
ORDERS = [[0, 2, 3, 1, 4, 5, 6, 7, 8],   # query 0 (pid 1, camera 0)
          [1, 0, 8, 4, 2, 3, 5, 6, 7]]   # query 1 (pid 1, camera 1)


def _release_case():
    pids = np.array([p for p, _ in TRACKLETS])
    camids = np.array([c for _, c in TRACKLETS])
    distmat = np.zeros((2, len(TRACKLETS)))
    for q, order in enumerate(ORDERS):
        distmat[q, order] = np.arange(len(order))
    return distmat, pids, camids


def test_release_protocol_ranks_all_tracklets_with_trapezoidal_ap():
    distmat, pids, camids = _release_case()
    # query 0: drop itself (0), junk (2) and tracklet 4 (pid 1 in camera 0); tracklet 1 is
    # the other query of pid 1 in camera 1 and a match -> ranked 3, 1, 5, 6, 7, 8 ->
    # matches 0 1 1 0 1 0: step 53/90, trapezoid 83/180 (test above), first hit at rank 2
    # query 1: drop itself (1) and junk (2) -> ranked 0, 8, 4, 3, 5, 6, 7 -> 1 0 1 0 1 0 1
    #   (4 good): step (1 + 2/3 + 3/5 + 4/7) / 4 = (105 + 70 + 63 + 60) / 105 / 4 = 149/210
    #   trapezoid: (1 + 1)/2 + (1/2 + 2/3)/2 + (2/4 + 3/5)/2 + (3/6 + 4/7)/2, over 4
    #   = (1 + 7/12 + 11/20 + 15/28) / 4 = (420 + 245 + 231 + 225) / 420 / 4 = 1121/1680
    cmc, mAP = evaluate_release_rank(distmat, pids[:2], pids, camids[:2], camids)
    assert cmc[0] == pytest.approx(0.5) and cmc[1] == pytest.approx(1.0) and len(cmc) == 9
    assert mAP == pytest.approx((83 / 180 + 1121 / 1680) / 2)
    _, step = evaluate_release_rank(distmat, pids[:2], pids, camids[:2], camids, ap_method='step')
    assert step == pytest.approx((53 / 90 + 149 / 210) / 2)
    assert mAP != pytest.approx(step)


def test_release_step_ap_equals_torchreid_without_junk():
    distmat, pids, camids = _release_case()
    keep = pids != -1
    # max_rank 5: torchreid needs every query's kept gallery to reach it
    cmc, step = evaluate_release_rank(distmat[:, keep], pids[:2], pids[keep], camids[:2],
                                      camids[keep], max_rank=5, ap_method='step')
    ref_cmc, ref_map = torchreid.metrics.evaluate_rank(
        distmat[:, keep], pids[:2], pids[keep], camids[:2], camids[keep], max_rank=5)
    np.testing.assert_allclose(cmc, ref_cmc)
    assert step == pytest.approx(ref_map)
    # torchreid counts junk as a miss: query 0's first hit moves from rank 2 to rank 3
    ref_cmc, _ = torchreid.metrics.evaluate_rank(distmat, pids[:2], pids, camids[:2], camids,
                                                 max_rank=5)
    assert ref_cmc[1] == pytest.approx(0.5)


def test_release_protocol_counts_other_queries_as_matches():
    # queries: pid 1 at 0.0 (camera 0) and 0.1 (camera 1); gallery: pid 2 at 0.3 (camera 1),
    # pid 1 at 1.0 (camera 2), pid 2 at 0.35 (camera 0)
    qf = torch.tensor([[0.0], [0.1]])
    gf = torch.tensor([[0.3], [1.0], [0.35]])
    q_pids, g_pids = np.array([1, 1]), np.array([2, 1, 2])
    q_camids, g_camids = np.array([0, 1]), np.array([1, 2, 0])
    result = evaluate_release_protocol(qf, gf, q_pids, g_pids, q_camids, g_camids)
    # each query's nearest is the other query (.01): a hit; then both pid 2, then pid 1 at
    # 1.0: matches 1 0 0 1 -> step (1 + 2/4) / 2 = 3/4, trapezoid ((1 + 1)/2 + (1/3 + 2/4)/2) / 2
    assert result['cmc'][0] == pytest.approx(1.0)
    assert result['mAP_step'] == pytest.approx(3 / 4)
    assert result['mAP'] == pytest.approx(17 / 24)
    assert result['distmat'].shape == (2, 5)
    # torchreid's protocol (queries not in the gallery): both first hit at rank 3
    distmat = torchreid.metrics.compute_distance_matrix(qf, gf).numpy()
    cmc, _ = torchreid.metrics.evaluate_rank(distmat, q_pids, g_pids, q_camids, g_camids)
    assert cmc.tolist() == [0.0, 0.0, 1.0]


def test_release_evaluation_per_data_set():
    assert release_evaluation('prid2011') == 'one_direction'
    assert release_evaluation('ilidsvid') == 'both_directions'
    assert release_evaluation('mars') == 'all_tracklets'
    with pytest.raises(ValueError, match="dataset_name.*'market1501'"):
        release_evaluation('market1501')
