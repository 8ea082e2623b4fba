"""Two gloo processes on the CPU hold the anchors of one process with the global batch."""
import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from engine_helpers import PlainNet, anchors_of, tiny_datamanager, tiny_engine

STEPS = 3
PER_RANK = 8


def train_steps(root, batch_size):
    """A few DAL steps; under torch.distributed the engine wraps the model in DDP."""
    torch.manual_seed(0)
    model = PlainNet()
    # no augmentation, so both runs see identical pixels
    dm = tiny_datamanager(root, transforms=[])
    # plain SGD: Adam's first steps amplify float-level gradient differences
    engine = tiny_engine(dm, model=model, batch_size=batch_size, warmup_epochs=0,
                         optim='sgd', lr=0.1, seed=3)
    engine.train_loader.sampler.set_epoch(0)
    for engine.batch_idx, data in zip(range(STEPS), engine.train_loader):
        engine.forward_backward(data)
    return anchors_of(engine)


def worker(rank, world_size, port, root, out_dir):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=world_size)
    try:
        anchors = train_steps(root, PER_RANK)
        torch.save(anchors, os.path.join(out_dir, 'rank{}.pt'.format(rank)))
    finally:
        dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_two_ranks_match_one_process_with_the_global_batch(tiny_prid2011_root, tmp_path):
    mp.spawn(worker, args=(2, free_port(), tiny_prid2011_root, str(tmp_path)), nprocs=2)
    rank0 = torch.load(tmp_path / 'rank0.pt')
    rank1 = torch.load(tmp_path / 'rank1.pt')
    single = train_steps(tiny_prid2011_root, 2 * PER_RANK)
    for a, b, s in zip(rank0, rank1, single):
        assert torch.equal(a, b)
        assert torch.allclose(a, s, atol=1e-5)
    # the anchors moved: the comparison is not between untouched zeros
    assert any(a.abs().sum() > 0 for a in single)
