"""Cluster Contrast under two gloo processes: gathered features, identical pseudo-labels,
and the memory of one process with the global batch."""
import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from engine_helpers import PlainNet, tiny_datamanager
from test_distributed import free_port
from test_video_cluster_contrast_engine import tiny_cc

STEPS = 3
PER_RANK = 8


def train_steps(root, batch_size, negatives):
    torch.manual_seed(0)
    dm = tiny_datamanager(root, transforms=[])
    engine = tiny_cc(dm, model=PlainNet(), batch_size=batch_size, optim='sgd', lr=0.1, seed=3,
                     negatives=negatives)
    features = engine.tracklet_features()
    labels = engine.cluster()
    engine.train_loader.batch_sampler.set_epoch(0)
    for engine.batch_idx, data in zip(range(STEPS), engine.train_loader):
        engine.forward_backward(data)
    return features, torch.from_numpy(labels), engine.criterion.centroids.clone()


def worker(rank, world_size, port, root, out_dir, negatives):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=world_size)
    try:
        torch.save(train_steps(root, PER_RANK, negatives), os.path.join(out_dir, f'rank{rank}.pt'))
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize('negatives', ['all', 'camera'])  # camera: the global batch's cameras
def test_two_ranks_match_one_process_with_the_global_batch(tiny_prid2011_root, tmp_path,
                                                           negatives):
    mp.spawn(worker, args=(2, free_port(), tiny_prid2011_root, str(tmp_path), negatives),
             nprocs=2)
    rank0 = torch.load(tmp_path / 'rank0.pt')
    rank1 = torch.load(tmp_path / 'rank1.pt')
    single = train_steps(tiny_prid2011_root, 2 * PER_RANK, negatives)
    for a, b in zip(rank0, rank1):
        assert torch.equal(a, b)  # features, labels and memory: the same on every rank
    features, labels, centroids = rank0
    assert torch.allclose(features, single[0], atol=1e-5)
    assert torch.equal(labels, single[1])
    assert torch.allclose(centroids, single[2], atol=1e-5)
    # the memory moved during the steps: not a comparison of untouched centroids
    untouched = torch.nn.functional.normalize(torch.stack(
        [single[0][single[1] == c].mean(0) for c in range(int(single[1].max()) + 1)]), dim=1)
    assert not torch.allclose(untouched, single[2], atol=1e-3)
