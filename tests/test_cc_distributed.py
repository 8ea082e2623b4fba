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


def train_steps(root, batch_size, memory):
    torch.manual_seed(0)
    dm = tiny_datamanager(root, transforms=[])
    engine = tiny_cc(dm, model=PlainNet(), batch_size=batch_size, optim='sgd', lr=0.1, seed=3,
                     **memory)
    features = engine.tracklet_features()
    labels = engine.cluster()
    built = engine.criterion.centroids.clone()
    engine.train_loader.batch_sampler.set_epoch(0)
    for engine.batch_idx, data in zip(range(STEPS), engine.train_loader):
        engine.forward_backward(data)
    return features, torch.from_numpy(labels), engine.criterion.centroids.clone(), built


def worker(rank, world_size, port, root, out_dir, memory):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=world_size)
    try:
        torch.save(train_steps(root, PER_RANK, memory), os.path.join(out_dir, f'rank{rank}.pt'))
    finally:
        dist.destroy_process_group()


# 'camera' options: the loss and update need the global batch's cameras
@pytest.mark.parametrize('memory', [{}, {'negatives': 'camera'}, {'proxies': 'camera'}])
def test_two_ranks_match_one_process_with_the_global_batch(tiny_prid2011_root, tmp_path,
                                                           memory):
    mp.spawn(worker, args=(2, free_port(), tiny_prid2011_root, str(tmp_path), memory),
             nprocs=2)
    rank0 = torch.load(tmp_path / 'rank0.pt')
    rank1 = torch.load(tmp_path / 'rank1.pt')
    single = train_steps(tiny_prid2011_root, 2 * PER_RANK, memory)
    for a, b in zip(rank0, rank1):
        assert torch.equal(a, b)  # features, labels and memory: the same on every rank
    features, labels, centroids, built = rank0
    assert torch.allclose(features, single[0], atol=1e-5)
    assert torch.equal(labels, single[1])
    assert torch.allclose(centroids, single[2], atol=1e-5)
    # the memory moved during the steps: not a comparison of untouched centroids
    assert not torch.allclose(built, centroids, atol=1e-3)
