"""ClusterMemory against a NumPy transcription of the reference's memory and loss."""
import numpy as np
import pytest
import torch
from torch.nn import functional as F

from dal_torchreid.losses import ClusterMemory
from dal_torchreid.losses.cluster_memory import camera_proxy_loss


def reference_update(memory, feats, labels, m, hard):
    """clustercontrast/models/cm.py: CM (every sample in turn) and CM_Hard (least similar)."""
    memory = memory.copy()
    if not hard:
        for x, y in zip(feats, labels):
            memory[y] = m * memory[y] + (1 - m) * x
            memory[y] /= np.linalg.norm(memory[y])
        return memory
    groups = {}
    for x, y in zip(feats, labels):
        groups.setdefault(y, []).append(x)
    for y, xs in groups.items():
        x = xs[int(np.argmin([x @ memory[y] for x in xs]))]
        memory[y] = m * memory[y] + (1 - m) * x
        memory[y] /= np.linalg.norm(memory[y])
    return memory


def setup(seed=0):
    g = torch.Generator().manual_seed(seed)
    tracklets = F.normalize(torch.randn(12, 8, generator=g), dim=1)
    labels = torch.tensor([0, 0, 1, 1, 1, -1, 2, 2, 3, 3, -1, 0])
    batch = torch.randn(10, 8, generator=g)
    targets = torch.tensor([0, 1, 1, 3, 0, 2, 1, 3, 0, 2])
    return tracklets, labels, batch, targets


def test_rebuild_gives_normalised_member_means():
    tracklets, labels, _, _ = setup()
    memory = ClusterMemory(8)
    memory.rebuild(tracklets, labels)
    assert memory.num_clusters == 4 and torch.equal(memory.labels, labels)
    expected = np.stack([tracklets[labels == c].mean(0).numpy() for c in range(4)])
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert np.allclose(memory.centroids.numpy(), expected, atol=1e-6)


def test_loss_is_cross_entropy_over_temperature_scaled_similarities():
    tracklets, labels, batch, targets = setup()
    memory = ClusterMemory(8, temperature=0.05)
    memory.rebuild(tracklets, labels)
    x = batch.numpy() / np.linalg.norm(batch.numpy(), axis=1, keepdims=True)
    logits = x @ memory.centroids.numpy().T / 0.05
    logp = logits - logits.max(1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(1, keepdims=True))
    expected = -logp[np.arange(10), targets.numpy()].mean()
    assert np.isclose(memory(batch, targets).item(), expected, atol=1e-5)


@pytest.mark.parametrize('hard', [False, True])
def test_momentum_update_matches_the_reference(hard):
    tracklets, labels, batch, targets = setup()
    memory = ClusterMemory(8, momentum=0.2, memory_update='hard' if hard else 'all')
    memory.rebuild(tracklets, labels)
    before = memory.centroids.numpy().copy()
    x = F.normalize(batch, dim=1).numpy()
    memory.update(batch, targets)
    expected = reference_update(before, x, targets.numpy(), 0.2, hard)
    assert np.allclose(memory.centroids.numpy(), expected, atol=1e-6)
    assert not np.allclose(before, expected)


def test_state_dict_round_trip_resizes_the_buffers():
    tracklets, labels, _, _ = setup()
    memory = ClusterMemory(8)
    memory.rebuild(tracklets, labels)
    fresh = ClusterMemory(8)
    fresh.load_state_dict(memory.state_dict())
    assert torch.equal(fresh.centroids, memory.centroids)
    assert torch.equal(fresh.labels, labels)


def test_bad_settings_and_empty_memory_are_refused():
    for kwargs, word in [(dict(temperature=0), 'temperature'), (dict(momentum=1.0), 'momentum'),
                         (dict(memory_update='median'), 'memory_update')]:
        with pytest.raises(ValueError, match=f'^{word} must'):
            ClusterMemory(8, **kwargs)
    with pytest.raises(RuntimeError, match='rebuild'):
        ClusterMemory(8)(torch.randn(2, 8), torch.tensor([0, 0]))


# cameras of setup()'s 12 tracklets: clusters 0 {0, 1}, 1 {0, 1}, 2 {1}, 3 {0}
TRACKLET_CAMERAS = torch.tensor([0, 1, 0, 1, 1, 0, 1, 1, 0, 0, 1, 0])
BATCH_CAMERAS = torch.tensor([1, 0, 1, 0, 0, 1, 1, 1, 0, 0])


def reference_camera_loss(batch, cameras, targets, centroids, tracklet_cameras, labels, t):
    """Cross-entropy, each sample's softmax over its own cluster and the clusters with a
    member tracklet in its camera, written out sample by sample."""
    total = 0.0
    for x, c, y in zip(batch, cameras, targets):
        x = x / np.linalg.norm(x)
        kept = [k for k in range(len(centroids))
                if k == y or any(tracklet_cameras[i] == c for i in np.flatnonzero(labels == k))]
        logits = np.array([x @ centroids[k] / t for k in kept])
        total += np.log(np.exp(logits - logits.max()).sum()) + logits.max() - logits[kept.index(y)]
    return total / len(batch)


def camera_memory(**kwargs):
    tracklets, labels, batch, targets = setup()
    memory = ClusterMemory(8, negatives='camera', tracklet_cameras=TRACKLET_CAMERAS, **kwargs)
    memory.rebuild(tracklets, labels)
    return memory, labels, batch, targets


def test_camera_negatives_loss_matches_the_explicit_reference():
    memory, labels, batch, targets = camera_memory(temperature=0.05)
    assert memory.camera_presence.tolist() == [[True, True], [True, True], [False, True],
                                               [True, False]]
    expected = reference_camera_loss(batch.numpy(), BATCH_CAMERAS.numpy(), targets.numpy(),
                                     memory.centroids.numpy(), TRACKLET_CAMERAS.numpy(),
                                     labels.numpy(), 0.05)
    loss = memory(batch, targets, BATCH_CAMERAS)
    assert np.isclose(loss.item(), expected, atol=1e-5)
    everything = ClusterMemory(8, temperature=0.05)
    everything.rebuild(*setup()[:2])
    assert loss.item() < everything(batch, targets).item()  # fewer negatives
    # sample 5 (camera 1, cluster 2) competes with clusters 0-2 only: cluster 3 has no
    # camera-1 member, so no gradient reaches its logit
    feats = batch.clone().requires_grad_()
    memory(feats[5:6], targets[5:6], BATCH_CAMERAS[5:6]).backward()
    alone = feats.detach()[5:6].clone().requires_grad_()
    sub = ClusterMemory(8, temperature=0.05)
    sub.centroids, sub.labels = memory.centroids[:3].clone(), memory.labels
    sub(alone, targets[5:6]).backward()
    assert torch.allclose(feats.grad[5:6], alone.grad, atol=1e-6)


def test_all_negatives_ignore_cameras_and_keep_the_reference_loss():
    tracklets, labels, batch, targets = setup()
    memory = ClusterMemory(8, negatives='all')
    memory.rebuild(tracklets, labels)
    assert torch.equal(memory(batch, targets, BATCH_CAMERAS), memory(batch, targets))
    assert memory.camera_presence.numel() == 0


def test_camera_presence_is_recomputed_on_load_and_not_saved():
    memory, labels, _, _ = camera_memory()
    state = memory.state_dict()
    assert set(state) == {'centroids', 'labels'}  # the same checkpoint contents as 'all'
    fresh = ClusterMemory(8, negatives='camera', tracklet_cameras=TRACKLET_CAMERAS)
    fresh.load_state_dict(state)
    assert torch.equal(fresh.camera_presence, memory.camera_presence)
    assert torch.equal(fresh.labels, labels)
    other = ClusterMemory(8, negatives='camera', tracklet_cameras=TRACKLET_CAMERAS[:5])
    with pytest.raises(ValueError, match='12 pseudo-labels for 5 tracklet cameras'):
        other.load_state_dict(state)


def test_camera_negatives_need_cameras():
    with pytest.raises(ValueError, match='^negatives must'):
        ClusterMemory(8, negatives='own')
    with pytest.raises(ValueError, match='tracklet_cameras'):
        ClusterMemory(8, negatives='camera')
    memory, _, batch, targets = camera_memory()
    with pytest.raises(ValueError, match="samples' cameras"):
        memory(batch, targets)


def reference_cap_loss(batch, cameras, targets, proxies, proxy_cluster, proxy_camera, t,
                       hard, weight):
    """CAP (reid/loss/CamAwareMemory.py), sample by sample: per camera, the mean intra-camera
    cross-entropy over its proxies plus weight x the mean inter-camera loss over the
    cluster's proxies and the `hard` most similar others; summed over cameras."""
    total = 0.0
    for c in sorted(set(cameras.tolist())):
        intra, inter = [], []
        for x, y in zip(batch[cameras == c], targets[cameras == c]):
            s = (x / np.linalg.norm(x)) @ proxies.T / t
            own = [p for p in range(len(proxies)) if proxy_camera[p] == c]
            target = [p for p in own if proxy_cluster[p] == y][0]
            lse = np.log(np.exp(s[own] - s[own].max()).sum()) + s[own].max()
            intra.append(lse - s[target])
            pos = [p for p in range(len(proxies)) if proxy_cluster[p] == y]
            others = sorted((p for p in range(len(proxies)) if proxy_cluster[p] != y),
                            key=lambda p: -s[p])[:hard]
            kept = s[pos + others]
            lse = np.log(np.exp(kept - kept.max()).sum()) + kept.max()
            inter.append(np.mean([lse - s[p] for p in pos]))
        total += np.mean(intra) + weight * np.mean(inter)
    return total


def test_camera_proxies_are_per_cluster_and_camera_means():
    tracklets, labels, _, _ = setup()
    memory = ClusterMemory(8, proxies='camera', tracklet_cameras=TRACKLET_CAMERAS)
    memory.rebuild(tracklets, labels)
    # clusters 0 and 1 in both cameras, 2 in camera 1, 3 in camera 0: six proxies
    assert memory.proxy_index.tolist() == [[0, 1], [2, 3], [-1, 4], [5, -1]]
    assert memory.num_clusters == 4
    expected = []
    for y, c in [(0, 0), (0, 1), (1, 0), (1, 1), (2, 1), (3, 0)]:
        mean = tracklets[(labels == y) & (TRACKLET_CAMERAS == c)].mean(0).numpy()
        expected.append(mean / np.linalg.norm(mean))
    assert np.allclose(memory.centroids.numpy(), np.stack(expected), atol=1e-6)


@pytest.mark.parametrize('hard', [2, 50])
def test_camera_proxy_loss_matches_the_explicit_reference(hard):
    tracklets, labels, batch, targets = setup()
    # each sample's cluster must have a tracklet in its camera: cluster 2 lives in camera 1,
    # cluster 3 in camera 0
    cameras = torch.tensor([1, 0, 1, 0, 0, 1, 1, 0, 0, 1])
    cameras[targets == 2], cameras[targets == 3] = 1, 0
    memory = ClusterMemory(8, temperature=0.07, proxies='camera',
                           tracklet_cameras=TRACKLET_CAMERAS)
    memory.rebuild(tracklets, labels)
    present = memory.camera_presence.nonzero().numpy()
    logits = F.normalize(batch, dim=1) @ memory.centroids.t() / 0.07
    proxy_targets = memory.proxy_index[targets, cameras]
    loss = camera_proxy_loss(logits, proxy_targets, targets, cameras, torch.from_numpy(
        present[:, 0]), torch.from_numpy(present[:, 1]), hard_negatives=hard)
    expected = reference_cap_loss(batch.numpy(), cameras.numpy(), targets.numpy(),
                                  memory.centroids.numpy(), present[:, 0], present[:, 1],
                                  0.07, hard, 0.5)
    assert np.isclose(loss.item(), expected, atol=1e-4)
    if hard == 50:  # the module's default, more than the six proxies
        assert np.isclose(memory(batch, targets, cameras).item(), expected, atol=1e-4)
    # the update moves each sample's (cluster, camera) proxy, as the reference's
    before = memory.centroids.numpy().copy()
    memory.update(batch, targets, cameras)
    expected = reference_update(before, F.normalize(batch, dim=1).numpy(),
                                proxy_targets.numpy(), memory.momentum, False)
    assert np.allclose(memory.centroids.numpy(), expected, atol=1e-6)


def test_camera_proxies_survive_a_state_dict_round_trip():
    tracklets, labels, _, _ = setup()
    memory = ClusterMemory(8, proxies='camera', tracklet_cameras=TRACKLET_CAMERAS)
    memory.rebuild(tracklets, labels)
    fresh = ClusterMemory(8, proxies='camera', tracklet_cameras=TRACKLET_CAMERAS)
    fresh.load_state_dict(memory.state_dict())
    assert torch.equal(fresh.centroids, memory.centroids)
    assert torch.equal(fresh.proxy_index, memory.proxy_index)


def test_camera_proxy_settings_are_checked():
    with pytest.raises(ValueError, match='^proxies must'):
        ClusterMemory(8, proxies='tracklet')
    with pytest.raises(ValueError, match='tracklet_cameras'):
        ClusterMemory(8, proxies='camera')
    with pytest.raises(ValueError, match="proxies 'cluster' only"):
        ClusterMemory(8, proxies='camera', negatives='camera', tracklet_cameras=TRACKLET_CAMERAS)


def reference_cross_camera_term(batch, cameras, targets, proxies, proxy_cluster, proxy_camera,
                                t, hard):
    """Sample by sample: -mean log softmax over the proxies of the sample's cluster in other
    cameras and the `hard` most similar proxies of other clusters; the mean over the
    samples that have such a positive."""
    losses = []
    for x, y, c in zip(batch, targets, cameras):
        s = (x / np.linalg.norm(x)) @ proxies.T / t
        pos = [p for p in range(len(proxies)) if proxy_cluster[p] == y and proxy_camera[p] != c]
        if not pos:
            continue
        others = sorted((p for p in range(len(proxies)) if proxy_cluster[p] != y),
                        key=lambda p: -s[p])[:hard]
        kept = s[pos + others]
        lse = np.log(np.exp(kept - kept.max()).sum()) + kept.max()
        losses.append(np.mean([lse - s[p] for p in pos]))
    return np.mean(losses) if losses else 0.0


@pytest.mark.parametrize('negatives', ['all', 'camera'])
def test_cross_camera_term_matches_the_explicit_reference(negatives):
    tracklets, labels, batch, targets = setup()
    cameras = torch.tensor([1, 0, 1, 0, 0, 1, 1, 0, 0, 1])
    cameras[targets == 2], cameras[targets == 3] = 1, 0  # clusters living in one camera
    plain = ClusterMemory(8, temperature=0.07, negatives=negatives,
                          tracklet_cameras=TRACKLET_CAMERAS)
    memory = ClusterMemory(8, temperature=0.07, negatives=negatives,
                           tracklet_cameras=TRACKLET_CAMERAS, cross_camera_weight=0.3)
    for m in (plain, memory):
        m.rebuild(tracklets, labels)
    # the camera proxies: per (cluster, camera) normalised member means, beside the centroids
    present = memory.camera_presence.nonzero().numpy()
    expected_proxies = []
    for y, c in present:
        mean = tracklets[(labels == y) & (TRACKLET_CAMERAS == c)].mean(0).numpy()
        expected_proxies.append(mean / np.linalg.norm(mean))
    assert np.allclose(memory.camera_centroids.numpy(), np.stack(expected_proxies), atol=1e-6)
    assert torch.equal(memory.centroids, plain.centroids)
    term = reference_cross_camera_term(batch.numpy(), cameras.numpy(), targets.numpy(),
                                       memory.camera_centroids.numpy(), present[:, 0],
                                       present[:, 1], 0.07, 50)
    assert term > 0
    loss = memory(batch, targets, cameras).item()
    assert np.isclose(loss, plain(batch, targets, cameras).item() + 0.3 * term, atol=1e-4)
    # the update moves each sample's centroid and its (cluster, camera) proxy
    before = memory.camera_centroids.numpy().copy()
    memory.update(batch, targets, cameras)
    plain.update(batch, targets, cameras)
    assert torch.allclose(memory.centroids, plain.centroids)
    expected = reference_update(before, F.normalize(batch, dim=1).numpy(),
                                memory.proxy_index[targets, cameras].numpy(), memory.momentum,
                                False)
    assert np.allclose(memory.camera_centroids.numpy(), expected, atol=1e-6)
    # saved and restored with the state dict, sizes included
    fresh = ClusterMemory(8, temperature=0.07, negatives=negatives,
                          tracklet_cameras=TRACKLET_CAMERAS, cross_camera_weight=0.3)
    fresh.load_state_dict(memory.state_dict())
    assert torch.equal(fresh.camera_centroids, memory.camera_centroids)
    assert 'camera_centroids' not in plain.state_dict()  # off: checkpoints as before


def test_cross_camera_term_is_zero_without_other_camera_members():
    tracklets, labels, batch, targets = setup()
    # clusters 2 and 3 each live in one camera: no positive elsewhere, no term
    keep = (targets == 2) | (targets == 3)
    cameras = torch.where(targets == 2, 1, 0)[keep]
    memory = ClusterMemory(8, tracklet_cameras=TRACKLET_CAMERAS, cross_camera_weight=1.0)
    plain = ClusterMemory(8, tracklet_cameras=TRACKLET_CAMERAS)
    for m in (plain, memory):
        m.rebuild(tracklets, labels)
    batch = batch[keep].requires_grad_()
    loss = memory(batch, targets[keep], cameras)
    assert np.isclose(loss.item(), plain(batch, targets[keep]).item())
    loss.backward()
    assert torch.isfinite(batch.grad).all()


def test_cross_camera_weight_is_checked():
    with pytest.raises(ValueError, match='cross_camera_weight must be >= 0'):
        ClusterMemory(8, cross_camera_weight=-1, tracklet_cameras=TRACKLET_CAMERAS)
    with pytest.raises(ValueError, match='tracklet_cameras'):
        ClusterMemory(8, cross_camera_weight=0.5)
    with pytest.raises(ValueError, match="proxies 'cluster' only"):
        ClusterMemory(8, proxies='camera', cross_camera_weight=0.5,
                      tracklet_cameras=TRACKLET_CAMERAS)
