"""ClusterMemory against a NumPy transcription of the reference's memory and loss."""
import numpy as np
import pytest
import torch
from torch.nn import functional as F

from dal_torchreid.losses import ClusterMemory


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
