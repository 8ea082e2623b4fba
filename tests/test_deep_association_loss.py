"""DeepAssociationLoss against values worked out by hand from the method's rules,
and against a frozen copy of the per-camera implementation it replaced.

Every expected number in the hand-worked tests is computed in the comments from
the rules on 2-d vectors, not by calling the implementation a second time.
"""
import math

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from dal_torchreid.losses import (
    ETA, MARGIN, DeepAssociationLoss, check_eta, check_margin
)
from dal_torchreid.losses.association import (
    distance_matrix, first_occurrence, group_mean, l2_norm, masked_argmin
)

M = 0.5  # margin


def make_loss(counts, intra, cross=None, eta=0.5):
    loss = DeepAssociationLoss(counts, feature_dim=2, margin=M, eta=eta)
    for c, rows in enumerate(intra):
        loss.intra_anchors[c].copy_(torch.tensor(rows, dtype=torch.float32))
        loss.cross_anchors[c].copy_(torch.tensor((cross or intra)[c], dtype=torch.float32))
    return loss


def t(rows):
    return torch.tensor(rows, dtype=torch.float32)


def test_negative_distance_both_branches_and_hinge():
    # camera 0 anchors: [2,0] -> norm [1,0]; [0,3] -> norm [0,1]. Camera 1 absent.
    loss = make_loss([2, 1], [[[2, 0], [0, 3]], [[1, 1]]])
    # f1=[0.8,0.6] (k=0): d to a0 = .04+.36 = .4, to a1 = .64+.16 = .8 -> nearest is own
    # f2=[0,5] -> [0,1] (k=1): d to a1 = 0 -> nearest is own
    # f3=[0.6,0.8] (k=0): d to a0 = .16+.64 = .8, to a1 = .36+.04 = .4 -> nearest is a1, not own
    feats = t([[0.8, 0.6], [0, 5], [0.6, 0.8]])
    total = loss(feats, torch.tensor([0, 1, 0]), torch.tensor([0, 0, 0]), associate=False)
    mean_nearest = (0.4 + 0.0 + 0.4) / 3  # own-nearest frames take the camera's mean
    d_neg = [mean_nearest, mean_nearest, 0.4]
    d_intra = [0.4, 0.0, 0.8]
    expected = sum(max(0.0, p - n + M) for p, n in zip(d_intra, d_neg)) / 3
    assert loss.last_step.loss_intra.item() == pytest.approx(expected, abs=1e-6)
    # cross anchors equal the intra anchors here, so the cross loss is the same
    assert loss.last_step.loss_cross.item() == pytest.approx(expected, abs=1e-6)
    assert total.item() == pytest.approx(2 * expected, abs=1e-6)


def test_loss_uses_anchors_before_update_and_cross_anchor_distance():
    # one frame f=[0,1] of tracklet 0; intra a0=[1,0], a1=[0,1]; cross x0=[-1,0]
    loss = make_loss([2, 1], [[[1, 0], [0, 1]], [[1, 0]]],
                     cross=[[[-1, 0], [0, 1]], [[1, 0]]])
    loss(t([[0, 1]]), torch.tensor([0]), torch.tensor([0]), associate=False)
    # d_intra = |[0,1]-[1,0]|^2 = 2; nearest anchor is a1 (d=0), not own: d_neg = 0
    # d_cross = |[0,1]-[-1,0]|^2 = 2
    assert loss.last_step.loss_intra.item() == pytest.approx(2 + M)
    assert loss.last_step.loss_cross.item() == pytest.approx(2 + M)


def test_intra_update_sums_a_tracklet_drawn_twice():
    loss = make_loss([1, 1], [[[2, 0]], [[0, 1]]])
    # a0 = [2,0], norm [1,0]; frames [0,5]->[0,1] and [0.6,0.8], both tracklet 0:
    # a0 <- [2,0] - 0.5 * (([1,0]-[0,1]) + ([1,0]-[0.6,0.8])) = [2,0] - [0.7,-0.9]
    loss(t([[0, 5], [0.6, 0.8]]), torch.tensor([0, 0]), torch.tensor([0, 0]), associate=False)
    assert torch.allclose(loss.intra_anchors[0], t([[1.3, 0.9]]), atol=1e-6)
    assert torch.equal(loss.intra_anchors[1], t([[0, 1]]))  # absent camera untouched


def test_consistent_and_inconsistent_cycles():
    # camera 0: a0=[1,0], a1=[0,1]; camera 1: b0=[0.8,0.6], b1=[-1,0]
    intra = [[[1, 0], [0, 1]], [[0.8, 0.6], [-1, 0]]]
    cross = [[[5, 5], [5, 5]], [[7, 7], [7, 7]]]
    loss = make_loss([2, 2], intra, cross)
    # frames equal their own normalised anchors, so the intra update leaves them be
    loss(t([[1, 0], [0, 1]]), torch.tensor([0, 1]), torch.tensor([0, 0]), associate=True)
    # tracklet 0: nearest in camera 1 is b0 (.4 vs 4), back from b0: a0 (.4) vs a1 (.8)
    #   -> a0 itself: consistent, x0 = ([1,0] + [0.8,0.6]) / 2 = [0.9, 0.3]
    # tracklet 1: nearest in camera 1 is b0 (.8 vs 2), back from b0 lands on a0 != 1
    #   -> inconsistent, x1 = n1 = [0,1]
    assert torch.allclose(loss.cross_anchors[0], t([[0.9, 0.3], [0, 1]]), atol=1e-6)
    assert loss.last_step.num_associations == 1
    # the association joins camera 0 tracklet 0 with camera 1 tracklet 0 (b0)
    assert loss.last_step.associations.tolist() == [[0, 0, 1, 0]]
    # camera 1 was not in the batch: its cross anchors are untouched
    assert torch.equal(loss.cross_anchors[1], t([[7, 7], [7, 7]]))


def test_warm_up_skips_the_consistency_test():
    intra = [[[1, 0], [0, 1]], [[0.8, 0.6], [-1, 0]]]
    loss = make_loss([2, 2], intra, [[[5, 5], [5, 5]], [[7, 7], [7, 7]]])
    loss(t([[1, 0], [0, 1]]), torch.tensor([0, 1]), torch.tensor([0, 0]), associate=False)
    # every cross anchor of the batch follows its normalised intra anchor
    assert torch.allclose(loss.cross_anchors[0], t([[1, 0], [0, 1]]), atol=1e-6)
    assert loss.last_step.num_associations == 0


def test_camera_with_one_tracklet():
    # camera 0: a0=[1,0], a1=[0,1]; camera 1 has a single tracklet b0=[0,1]
    loss = make_loss([2, 1], [[[1, 0], [0, 1]], [[0, 1]]])
    loss(t([[0.6, 0.8], [0, 1]]), torch.tensor([0, 0]), torch.tensor([1, 1]), associate=True)
    # the only anchor is always the nearest: d_neg = mean(.36+.04, 0) = .2
    # intra: (max(0, .4 - .2 + .5) + max(0, 0 - .2 + .5)) / 2 = (.7 + .3) / 2
    assert loss.last_step.loss_intra.item() == pytest.approx(0.5, abs=1e-6)
    # b0 <- [0,1] - .5 * (([0,1]-[.6,.8]) + ([0,1]-[0,1])) = [.3, .9]; n = [.3,.9]/sqrt(.9)
    n = [0.3 / math.sqrt(0.9), 0.9 / math.sqrt(0.9)]
    assert torch.allclose(loss.intra_anchors[1], t([[0.3, 0.9]]), atol=1e-6)
    # nearest in camera 0 is a1=[0,1]; back to camera 1 there is only b0: consistent
    assert loss.last_step.associations.tolist() == [[1, 0, 0, 1]]
    expected = [[(n[0] + 0) / 2, (n[1] + 1) / 2]]
    assert torch.allclose(loss.cross_anchors[1], t(expected), atol=1e-6)


def test_zero_anchors_release_default():
    loss = DeepAssociationLoss([2, 2], feature_dim=2)
    # zero anchors normalise to zero: every distance is |f|^2 = 1 and the
    # lowest index wins ties, so frame of tracklet 1 has nearest 0 != 1: d_neg = 1
    # frame of tracklet 0: nearest is own, d_neg = mean(1, 1) = 1; d_pos = 1
    total = loss(t([[3, 4], [0, 2]]), torch.tensor([0, 1]), torch.tensor([0, 0]), associate=False)
    assert total.item() == pytest.approx(2 * M, abs=1e-6)
    # a <- 0 - .5 * (0 - f): half of each normalised feature
    assert torch.allclose(loss.intra_anchors[0], t([[0.3, 0.4], [0, 0.5]]), atol=1e-6)


def test_gradient_reaches_features_not_anchors():
    loss = DeepAssociationLoss([3, 3], feature_dim=8)
    torch.manual_seed(0)
    loss.intra_anchors[0].copy_(torch.randn(3, 8))
    loss.intra_anchors[1].copy_(torch.randn(3, 8))
    feats = torch.randn(6, 8, requires_grad=True)
    total = loss(feats, torch.tensor([0, 1, 2, 0, 1, 2]), torch.tensor([0, 0, 0, 1, 1, 1]), True)
    total.backward()
    assert feats.grad is not None and torch.isfinite(feats.grad).all()
    assert feats.grad.abs().sum() > 0
    assert all(not a.requires_grad for a in loss.intra_anchors + loss.cross_anchors)


def test_autocast_gives_float32_loss():
    torch.manual_seed(0)
    feats = torch.randn(6, 8)
    labels, cams = torch.tensor([0, 1, 2, 0, 1, 2]), torch.tensor([0, 0, 0, 1, 1, 1])
    ref = DeepAssociationLoss([3, 3], feature_dim=8)
    amp = DeepAssociationLoss([3, 3], feature_dim=8)
    expected = ref(feats.bfloat16().float(), labels, cams, True)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        got = amp(feats.bfloat16(), labels, cams, True)
    assert got.dtype == torch.float32
    assert got.item() == pytest.approx(expected.item(), abs=1e-6)
    assert torch.allclose(amp.intra_anchors[0], ref.intra_anchors[0])


def test_anchors_in_state_dict_and_writable():
    loss = DeepAssociationLoss([2, 3], feature_dim=4)
    assert loss.intra_anchors[1].shape == (3, 4)
    loss.cross_anchors[1].copy_(torch.ones(3, 4))
    state = loss.state_dict()
    assert torch.equal(state['cross_memory'][2:], torch.ones(3, 4))
    assert set(state) == {'intra_memory', 'cross_memory'}
    other = DeepAssociationLoss([2, 3], feature_dim=4)
    other.load_state_dict(state)
    assert torch.equal(other.cross_anchors[1], torch.ones(3, 4))


def test_initialize_anchors_from_features():
    loss = DeepAssociationLoss([1, 2], feature_dim=2)
    loss.initialize_anchors([t([[1, 2]]), t([[3, 4], [5, 6]])])
    assert torch.equal(loss.intra_anchors[1], t([[3, 4], [5, 6]]))
    assert torch.equal(loss.cross_anchors[0], t([[1, 2]]))


@pytest.mark.parametrize('kwargs, word', [
    (dict(tracklets_per_camera=[], feature_dim=2), 'tracklets_per_camera'),
    (dict(tracklets_per_camera=[2, 0], feature_dim=2), 'tracklets_per_camera'),
    (dict(tracklets_per_camera=[2], feature_dim=2, margin=0), 'margin'),
    (dict(tracklets_per_camera=[2], feature_dim=2, eta=1.5), 'eta'),
])
def test_bad_constructor_arguments(kwargs, word):
    with pytest.raises(ValueError, match=f'^{word}'):
        DeepAssociationLoss(**kwargs)


def test_bad_batch_inputs_are_named():
    loss = DeepAssociationLoss([2, 2], feature_dim=2)
    with pytest.raises(ValueError, match='camids'):
        loss(t([[1, 0]]), torch.tensor([0]), torch.tensor([2]), True)
    with pytest.raises(ValueError, match='tracklet_labels'):
        loss(t([[1, 0]]), torch.tensor([2]), torch.tensor([0]), True)
    with pytest.raises(ValueError, match='features'):
        loss(torch.ones(1, 3), torch.tensor([0]), torch.tensor([0]), True)


def test_association_rows_name_the_matched_camera_among_three():
    # camera 0: a0=[1,0]; camera 1: b0=[-1,0], b1=[0,-1]; camera 2: c0=[0,1], c1=[0.9,0.1]
    intra = [[[1, 0]], [[-1, 0], [0, -1]], [[0, 1], [0.9, 0.1]]]
    loss = make_loss([1, 2, 2], intra)
    loss(t([[1, 0]]), torch.tensor([0]), torch.tensor([0]), associate=True)
    # among cameras 1 and 2 (rows b0, b1, c0, c1) the nearest to a0 is c1, and a0 is
    # the only anchor of camera 0: consistent, matched (camera 2, tracklet 1)
    assert loss.last_step.associations.tolist() == [[0, 0, 2, 1]]


# ---------------------------------------------------------------------------
# Frozen reference: the per-camera implementation as it was when it was checked
# line by line against the authors' release. The batched implementation must
# give the same losses, gradients, anchors and associations.

def _ref_l2_norm(x):
    return x * torch.rsqrt((x * x).sum(1, keepdim=True).clamp_min(1e-10))


def _ref_sq(x):
    return (x * x).sum(1)


def _ref_dist(a, b, b_sq=None):
    b_sq = _ref_sq(b) if b_sq is None else b_sq
    return (_ref_sq(a).unsqueeze(1) + b_sq - 2.0 * (a @ b.t())).clamp_min(0.0)


def _ref_hinge(d_pos, d_neg, margin):
    return (d_pos - d_neg + margin).clamp_min(0.0).mean()


def reference_step(intra, cross, counts, features, labels, camids, associate,
                   margin=0.5, eta=0.5):
    """One call of the per-camera implementation, on copies of the (sum N_c, D) memories.

    Returns (total, loss_intra, loss_cross, intra, cross, associations).
    """
    intra, cross = intra.clone(), cross.clone()
    starts = [sum(counts[:c]) for c in range(len(counts))]
    own_rows = [slice(s, s + n) for s, n in zip(starts, counts)]
    camera_of_row = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
    feats = _ref_l2_norm(features.float())
    cams = []
    for c in torch.unique(camids).tolist():
        idx = torch.nonzero(camids == c).squeeze(1)
        cams.append((c, idx, labels[idx]))
    # losses, with the anchors before the update
    d_intra, d_cross, d_neg = [], [], []
    for c, idx, lab in cams:
        f = feats[idx]
        intra_n = _ref_l2_norm(intra[own_rows[c]])
        d_intra.append(_ref_sq(f - intra_n[lab]))
        d_cross.append(_ref_sq(f - _ref_l2_norm(cross[own_rows[c]][lab])))
        dist_min, rank1 = _ref_dist(f, intra_n).min(1)
        d_neg.append(torch.where(rank1 != lab, dist_min, dist_min.mean().expand_as(dist_min)))
    d_neg = torch.cat(d_neg)
    loss_intra = _ref_hinge(torch.cat(d_intra), d_neg, margin)
    loss_cross = _ref_hinge(torch.cat(d_cross), d_neg, margin)
    # anchor updates
    with torch.no_grad():
        f_det = feats.detach()
        for c, idx, lab in cams:
            a = intra[own_rows[c]]
            a.index_add_(0, lab, -eta * (_ref_l2_norm(a[lab]) - f_det[idx]))
        all_n = _ref_l2_norm(intra)
        all_sq = _ref_sq(all_n)
        found = [torch.zeros(0, 4, dtype=torch.long)]
        for c, _, lab in cams:
            lab = torch.unique(lab)
            own = own_rows[c]
            batch_n = all_n[own][lab]
            if associate and len(counts) > 1:
                dist = _ref_dist(batch_n, all_n, all_sq)
                dist[:, own] = float('inf')
                rank1 = dist.argmin(1)
                back = _ref_dist(all_n[rank1], all_n[own], all_sq[own]).argmin(1)
                consistent = back == lab
                merged = (batch_n + all_n[rank1]) / 2.0
                batch_n = torch.where(consistent.unsqueeze(1), merged, batch_n)
                matched = rank1[consistent]
                cam = camera_of_row[matched]
                found.append(torch.stack([torch.full_like(matched, c), lab[consistent], cam,
                                          matched - torch.tensor(starts)[cam]], 1))
            cross[own].index_copy_(0, lab, batch_n)
    return (loss_intra + loss_cross, loss_intra, loss_cross, intra, cross, torch.cat(found))


def _reference_batches(counts, dim, steps, seed):
    """Batches with repeated tracklets, drawn from every camera but the last."""
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        camids = torch.randint(len(counts) - 1, (24,), generator=g)
        limit = torch.tensor(counts)[camids]
        labels = (torch.rand(24, generator=g) * limit).long()
        labels[12:] = labels[:12]  # every tracklet of the first half drawn twice
        camids[12:] = camids[:12]
        yield torch.randn(24, dim, generator=g), labels, camids


@pytest.mark.parametrize('warmup, init', [(0, 'people'), (2, 'people'), (99, 'people'),
                                           (1, 'zeros')])
def test_matches_frozen_reference_over_steps(warmup, init):
    counts, dim = [7, 5, 6, 4], 12  # camera 3 never appears in a batch
    torch.manual_seed(warmup)
    # tracklets of one person look alike across cameras, so cycles are often consistent
    people = torch.randn(8, dim)
    loss = DeepAssociationLoss(counts, feature_dim=dim)
    if init == 'people':  # else the release's zero anchors: every first ranking is a tie
        with torch.no_grad():
            for c, n in enumerate(counts):
                pid = torch.randint(8, (n,))
                loss.intra_anchors[c].copy_(people[pid] + 0.6 * torch.randn(n, dim))
                loss.cross_anchors[c].copy_(torch.randn(n, dim))
    intra, cross = loss.intra_memory.clone(), loss.cross_memory.clone()
    found = 0
    for step, (x, labels, camids) in enumerate(_reference_batches(counts, dim, 6, warmup)):
        associate = step >= warmup
        x_ref = x.clone().requires_grad_(True)
        expected = reference_step(intra, cross, counts, x_ref, labels, camids, associate)
        total_ref, intra_ref, cross_ref, intra, cross, assoc_ref = expected
        total_ref.backward()
        x_new = x.clone().requires_grad_(True)
        total = loss(x_new, labels, camids, associate=associate)
        total.backward()
        assert total.item() == pytest.approx(total_ref.item(), abs=1e-6)
        assert loss.last_step.loss_intra.item() == pytest.approx(intra_ref.item(), abs=1e-6)
        assert loss.last_step.loss_cross.item() == pytest.approx(cross_ref.item(), abs=1e-6)
        assert torch.allclose(x_new.grad, x_ref.grad, atol=1e-6)
        assert torch.allclose(loss.intra_memory, intra, atol=1e-6)
        assert torch.allclose(loss.cross_memory, cross, atol=1e-6)
        assert loss.last_step.associations.tolist() == assoc_ref.tolist()
        assert int(loss.last_step.num_associations) == len(assoc_ref)
        found += len(assoc_ref)
    assert (found > 0) == (warmup < 6)


def _random_loss(counts, dim, seed=0, **kwargs):
    torch.manual_seed(seed)
    loss = DeepAssociationLoss(counts, feature_dim=dim, **kwargs)
    with torch.no_grad():
        loss.intra_memory.normal_()
        loss.cross_memory.normal_()
    return loss


def test_anchors_written_between_steps_are_noticed():
    counts, dim = [6, 5, 4], 10
    loss = _random_loss(counts, dim)
    batches = list(_reference_batches(counts, dim, 3, seed=1))
    loss(*batches[0], associate=True)  # the kept norms now describe the updated anchors
    torch.manual_seed(2)
    with torch.no_grad():
        loss.intra_anchors[1].copy_(torch.randn(5, dim))  # through a view
    intra, cross = loss.intra_memory.clone(), loss.cross_memory.clone()
    expected = reference_step(intra, cross, counts, *batches[1], associate=True)
    loss(*batches[1], associate=True)
    assert loss.last_step.loss_intra.item() == pytest.approx(expected[1].item(), abs=1e-6)
    assert torch.allclose(loss.cross_memory, expected[4], atol=1e-6)
    # and through load_state_dict
    state = _random_loss(counts, dim, seed=3).state_dict()
    loss.load_state_dict(state)
    expected = reference_step(state['intra_memory'], state['cross_memory'], counts,
                              *batches[2], associate=True)
    loss(*batches[2], associate=True)
    assert loss.last_step.loss_intra.item() == pytest.approx(expected[1].item(), abs=1e-6)
    assert loss.last_step.associations.tolist() == expected[5].tolist()


class _ValueReads(TorchDispatchMode):
    """Records the operators that bring tensor values or data-dependent sizes to the host,
    and the number of rows each normalisation (``rsqrt``) works on."""
    HOST_READS = ('_local_scalar_dense', 'nonzero', 'unique', 'masked_select')

    def __init__(self):
        super().__init__()
        self.reads = []
        self.rsqrt_rows = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if any(name in str(func) for name in self.HOST_READS):
            self.reads.append(str(func))
        if 'rsqrt' in str(func):
            self.rsqrt_rows.append(args[0].size(0))
        return func(*args, **(kwargs or {}))


def test_no_host_reads_when_validation_is_off():
    counts, dim = [6, 5, 4, 3], 10
    loss = _random_loss(counts, dim, validate=False)
    for step, (x, labels, camids) in enumerate(_reference_batches(counts, dim, 3, seed=4)):
        x.requires_grad_(True)
        with _ValueReads() as mode:
            loss(x, labels, camids, associate=step > 0).backward()
            stats = loss.last_step
            stats.num_associations + 0  # a tensor: usable without reading it
        assert mode.reads == []
        assert x.grad is not None
        # the first step normalises every intra anchor; later ones only the batch's rows
        assert (sum(counts) in mode.rsqrt_rows) == (step == 0)
        assert all(n in (sum(counts), len(x)) for n in mode.rsqrt_rows)
    # the detector works: validation and the association rows do read values
    with _ValueReads() as mode:
        loss(x, labels, camids, associate=True, validate=True)
    assert mode.reads
    with _ValueReads() as mode:
        loss.last_step.associations
    assert mode.reads


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
def test_cuda_step_never_synchronises_when_validation_is_off():
    counts, dim = [6, 5, 4, 3], 10
    loss = _random_loss(counts, dim, validate=False)
    intra, cross = loss.intra_memory.clone(), loss.cross_memory.clone()
    loss.cuda()
    batches = list(_reference_batches(counts, dim, 3, seed=5))
    on_device = [(x.cuda().requires_grad_(True), labels.cuda(), camids.cuda())
                 for x, labels, camids in batches]
    torch.cuda.synchronize()
    stats = []
    torch.cuda.set_sync_debug_mode('error')
    try:
        for step, (x, labels, camids) in enumerate(on_device):
            loss(x, labels, camids, associate=step > 0).backward()
            stats.append(loss.last_step)
    finally:
        torch.cuda.set_sync_debug_mode('default')
    for step, ((x, labels, camids), got) in enumerate(zip(batches, stats)):
        expected = reference_step(intra, cross, counts, x, labels, camids, associate=step > 0)
        _, loss_intra, loss_cross, intra, cross, found = expected
        assert got.loss_intra.item() == pytest.approx(loss_intra.item(), abs=1e-5)
        assert got.loss_cross.item() == pytest.approx(loss_cross.item(), abs=1e-5)
        assert got.associations.tolist() == found.tolist()
        assert int(got.num_associations) == len(found)
    assert torch.allclose(loss.intra_memory.cpu(), intra, atol=1e-5)
    assert torch.allclose(loss.cross_memory.cpu(), cross, atol=1e-5)


def test_validation_is_switchable_per_call_and_per_module():
    loss = DeepAssociationLoss([2, 2], feature_dim=2, validate=False)
    assert loss.validate_inputs is False
    with pytest.raises(ValueError, match='^camids'):
        loss(t([[1, 0]]), torch.tensor([0]), torch.tensor([2]), True, validate=True)
    loss.validate_inputs = True
    with pytest.raises(ValueError, match='^tracklet_labels'):
        loss(t([[1, 0]]), torch.tensor([2]), torch.tensor([0]), True)
    # shapes and dtypes are checked even without validation: they need no values
    loss.validate_inputs = False
    with pytest.raises(ValueError, match='^tracklet_labels and camids'):
        loss(t([[1, 0]]), torch.tensor([0, 1]), torch.tensor([0]), True)
    with pytest.raises(ValueError, match='^camids must be an integer'):
        loss(t([[1, 0]]), torch.tensor([0]), torch.tensor([0.0]), True)


def test_step_stats_are_tensors_and_rows_are_built_on_demand():
    intra = [[[1, 0], [0, 1]], [[0.8, 0.6], [-1, 0]]]
    loss = make_loss([2, 2], intra, [[[5, 5], [5, 5]], [[7, 7], [7, 7]]])
    # tracklet 0 of camera 0 drawn twice: one association, counted once
    loss(t([[1, 0], [0, 1], [1, 0]]), torch.tensor([0, 1, 0]), torch.tensor([0, 0, 0]))
    stats = loss.last_step
    assert isinstance(stats.num_associations, torch.Tensor)
    assert stats.num_associations.dim() == 0 and int(stats.num_associations) == 1
    assert stats.associated.tolist() == [True, False, False]
    assert stats.associations.tolist() == [[0, 0, 1, 0]]


def test_defaults_and_checks_of_margin_and_eta():
    loss = DeepAssociationLoss([2], feature_dim=2)
    assert (loss.margin, loss.eta) == (MARGIN, ETA) == (0.5, 0.5)
    check_margin(0.1)
    check_eta(1)
    for bad in (0, -1.0, float('nan'), float('inf'), '0.5', True):
        with pytest.raises(ValueError, match=r'^margin must be a finite number > 0, got'):
            check_margin(bad)
    for bad in (0, 1.5, float('nan'), '0.5', None):
        with pytest.raises(ValueError, match=r'^eta must be a number in \(0, 1\], got'):
            check_eta(bad)


def test_distance_matrix_with_scaled_rows_and_masked_ranking():
    torch.manual_seed(0)
    a, b = torch.randn(3, 5), torch.randn(4, 5)
    b[2] = 0.0  # a zero row normalises to zero
    scale = torch.rsqrt((b * b).sum(1).clamp_min(1e-10))
    expected = torch.cdist(a, l2_norm(b)).pow(2)
    assert torch.allclose(distance_matrix(a, b, b_scale=scale), expected, atol=1e-5)
    assert torch.allclose(distance_matrix(a, l2_norm(b)), expected, atol=1e-5)
    dist = torch.tensor([[1.0, 0.0, 1.0, 1.0], [2.0, 2.0, 3.0, 2.0]])
    allowed = torch.tensor([[True, False, True, True], [False, True, True, True]])
    # row 0: column 1 is masked, ties among 0, 2, 3 go to 0; row 1: tie 1/3 goes to 1
    assert masked_argmin(dist, allowed).tolist() == [0, 1]


def test_group_mean_and_first_occurrence():
    values = torch.tensor([1.0, 2.0, 3.0, 6.0])
    assert group_mean(values, torch.tensor([2, 0, 2, 0]), 4).tolist() == [2.0, 4.0, 2.0, 4.0]
    assert first_occurrence(torch.tensor([5, 3, 5, 5, 3, 7])).tolist() == [0, 1, 0, 0, 1, 5]


def test_a_tracklet_drawn_twice_writes_its_first_frames_outcome(monkeypatch):
    # duplicate rows may rank differently on a device whose matrix products differ
    # row by row in the last bit; every copy must still write one and the same value
    import dal_torchreid.losses.deep_association_loss as module
    ranking = module.cyclic_ranking

    def last_copy_disagrees(anchors_n, rows, *args):
        consistent, matched = ranking(anchors_n, rows, *args)
        return consistent.clone().index_fill_(0, torch.tensor([len(rows) - 1]), False), matched

    monkeypatch.setattr(module, 'cyclic_ranking', last_copy_disagrees)
    intra = [[[1, 0], [0, 1]], [[0.8, 0.6], [-1, 0]]]
    loss = make_loss([2, 2], intra, [[[5, 5], [5, 5]], [[7, 7], [7, 7]]])
    loss(t([[1, 0], [0, 1], [1, 0]]), torch.tensor([0, 1, 0]), torch.tensor([0, 0, 0]))
    # as in test_consistent_and_inconsistent_cycles: tracklet 0 merges with b0
    assert torch.allclose(loss.cross_anchors[0], t([[0.9, 0.3], [0, 1]]), atol=1e-6)
    assert loss.last_step.associations.tolist() == [[0, 0, 1, 0]]


def test_loss_scale_benchmark_small(capsys):
    from dal_torchreid.benchmarks import loss_scale as bench
    assert bench.spread(20, 6) == [4, 4, 3, 3, 3, 3]
    assert bench.anchor_bytes(1_000_000, 2048) == 2 * 1_000_000 * 2048 * 4
    assert bench.fit_line([1.0, 2.0, 3.0], [3.0, 5.0, 7.0]) == pytest.approx((1.0, 2.0))
    threads = torch.get_num_threads()
    assert bench.main(['--small', '--steps', '1', '--warmup', '0']) == 0
    assert torch.get_num_threads() == threads
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in lines if line.split()[0].isdigit()]
    assert [int(r[0]) for r in rows] == list(bench.SMALL_TRACKLETS)
    assert all(float(r[1]) > 0 for r in rows)
    assert [float(r[2]) for r in rows] == [round(n * 128 * 8 / 2 ** 20, 1) for n in
                                           bench.SMALL_TRACKLETS]
    assert lines[-1].startswith('1,000,000 tracklets (D = 128) would need 977 MiB')


# ---------------------------------------------------------------------------
# dal.intra_mutual_neighbors: mutual nearest tracklets of a camera are not each other's
# negatives (a person seen twice in one camera); off (0) by default, the release's ranking.

def test_mutual_nearest_tracklets_are_spared_as_negatives():
    # camera 0: a0=[1,0], a1=[.8,.6], a2=[0,1]. Squared distances: a0-a1 .4, a1-a2 .8,
    # a0-a2 2: a0 and a1 are each other's nearest; a2's nearest is a1, whose is a0.
    intra = [[[1, 0], [0.8, 0.6], [0, 1]], [[1, 0]]]
    release, spared = make_loss([3, 1], intra), make_loss([3, 1], intra)
    spared.intra_mutual_neighbors = 1
    assert release.find_mutual_neighbors() == 0 and release.spared_negatives is None
    assert spared.find_mutual_neighbors() == 1
    assert spared.spared_negatives.tolist() == [[1], [0], [4], [4]]  # 4: none
    # frame f=[.6,.8] of tracklet 0: d to a0 .8, a1 .08, a2 .4
    feats, labels, camids = t([[0.6, 0.8]]), torch.tensor([0]), torch.tensor([0])
    release(feats, labels, camids, associate=False)
    spared(feats, labels, camids, associate=False)
    # release: negative a1 (d .08): .8 - .08 + .5; spared: a1 skipped, negative a2 (.4)
    assert release.last_step.loss_intra.item() == pytest.approx(1.22, abs=1e-6)
    assert spared.last_step.loss_intra.item() == pytest.approx(0.9, abs=1e-6)
    assert (release.last_step.negatives.tolist(), spared.last_step.negatives.tolist()) == ([1], [2])


def _ref_mutual_neighbors(anchors, k):
    """Brute force: {i: set of j} with j among i's k nearest other rows and i among j's."""
    a = anchors / np.maximum(np.linalg.norm(anchors, axis=1, keepdims=True), 1e-5)
    valid = np.linalg.norm(anchors, axis=1) > 0
    n = len(a)
    nearest = {}
    for i in range(n):
        others = [j for j in range(n) if j != i and valid[i] and valid[j]]
        others.sort(key=lambda j: (((a[i] - a[j]) ** 2).sum(), j))
        nearest[i] = set(others[:k])
    return {i: {j for j in nearest[i] if i in nearest[j]} for i in range(n)}


@pytest.mark.parametrize('k', [1, 2, 3])
def test_mutual_neighbors_and_negatives_match_numpy_reference(k):
    counts, dim = [7, 5, 6, 1], 6
    loss = _random_loss(counts, dim, seed=k, intra_mutual_neighbors=k)
    with torch.no_grad():
        loss.intra_memory[3] = 0  # a tracklet never seen: no neighbours, nobody's
    memory = loss.intra_memory.numpy().astype(np.float64)
    starts = np.cumsum([0] + counts)
    pairs = loss.find_mutual_neighbors()
    table = loss.spared_negatives.tolist()
    expected, num_pairs = {}, 0
    for c, n in enumerate(counts):
        ref = _ref_mutual_neighbors(memory[starts[c]:starts[c + 1]], k)
        num_pairs += sum(len(v) for v in ref.values()) // 2
        for i, js in ref.items():
            expected[starts[c] + i] = {starts[c] + j for j in js}
    assert pairs == num_pairs > 0
    assert {i: set(row) - {sum(counts)} for i, row in enumerate(table)} == expected
    assert not expected[3] and all(3 not in js for js in expected.values())
    # each frame's negative: its camera's nearest normalised anchor among the rows not spared
    g = torch.Generator().manual_seed(k)
    camids = torch.randint(3, (32,), generator=g)
    labels = (torch.rand(32, generator=g) * torch.tensor(counts)[camids]).long()
    feats = torch.randn(32, dim, generator=g)
    f = feats.numpy().astype(np.float64)
    f /= np.linalg.norm(f, axis=1, keepdims=True)
    a = memory / np.maximum(np.linalg.norm(memory, axis=1, keepdims=True), 1e-5)
    neg, d_min = [], []
    for fi, c, lab in zip(f, camids.tolist(), labels.tolist()):
        own = starts[c] + lab
        rows = [r for r in range(starts[c], starts[c + 1]) if r not in expected[own]]
        r = min(rows, key=lambda r: (((fi - a[r]) ** 2).sum(), r))
        neg.append(r - starts[c])
        d_min.append(((fi - a[r]) ** 2).sum())
    neg, d_min = np.array(neg), np.array(d_min)
    own_nearest = neg == labels.numpy()
    cam = camids.numpy()
    d_neg = np.where(own_nearest, [d_min[cam == c].mean() for c in cam], d_min)
    d_intra = ((f - a[starts[cam] + labels.numpy()]) ** 2).sum(1)
    ref_intra = np.maximum(0, d_intra - d_neg + M).mean()
    loss.margin = M
    loss(feats, labels, camids, associate=False)
    assert loss.last_step.negatives.tolist() == neg.tolist()
    assert loss.last_step.loss_intra.item() == pytest.approx(ref_intra, abs=1e-5)
    # the spared pairs changed some frame's negative against the release's ranking
    release = _random_loss(counts, dim, seed=k)
    with torch.no_grad():
        release.intra_memory[3] = 0
    release(feats, labels, camids, associate=False)
    assert release.last_step.negatives.tolist() != neg.tolist()


def test_spared_negatives_table_is_checked_and_intra_mutual_neighbors_validated():
    loss = DeepAssociationLoss([2, 2], feature_dim=2)
    with pytest.raises(ValueError, match=r'^spared negatives must be a \(4, S\) long tensor'):
        loss.spare_negatives(torch.zeros(3, 1, dtype=torch.long))
    for bad in (-1, 1.5, True, '1'):
        with pytest.raises(ValueError, match='^intra_mutual_neighbors must be an integer >= 0'):
            DeepAssociationLoss([2], feature_dim=2, intra_mutual_neighbors=bad)
