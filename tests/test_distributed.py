"""Two gloo processes on the CPU hold the anchors of one process with the global batch;
a frozen rank ends the run within train.dist_timeout."""
import json
import os
import signal
import socket
import time

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from dal_torchreid.engine.distributed import (
    check_dist_timeout, gather_global_batch, init_from_environment
)

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
        torch.save(anchors, os.path.join(out_dir, f'rank{rank}.pt'))
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


TIMEOUT_S = 5


def frozen_rank_worker(rank, port, out_dir):
    """Joins as dal-train does; rank 1 freezes (SIGSTOP) after one collective, rank 0
    records how its next collective ends."""
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port), WORLD_SIZE='2',
                      RANK=str(rank), LOCAL_RANK=str(rank))
    assert init_from_environment(use_gpu=False, dist_timeout=TIMEOUT_S)
    batch = (torch.randn(4, 8), torch.arange(4), torch.zeros(4, dtype=torch.long))
    gather_global_batch(*batch)
    if rank == 1:
        os.kill(os.getpid(), signal.SIGSTOP)
    start = time.time()
    try:
        gather_global_batch(*batch)
        outcome = 'completed'
    except Exception as err:  # what the training loop would raise
        outcome = f'{type(err).__name__}: {err}'
    with open(os.path.join(out_dir, 'rank0.json'), 'w') as f:
        json.dump({'seconds': time.time() - start, 'outcome': outcome}, f)
    # leave without tearing down a process group whose peer is stopped: gloo's threads
    # may abort the interpreter's exit ("terminate called without an active exception")
    os._exit(0)


def test_a_frozen_rank_ends_the_run_within_dist_timeout(tmp_path):
    context = mp.get_context('spawn')
    port = free_port()
    procs = [context.Process(target=frozen_rank_worker, args=(rank, port, str(tmp_path)))
             for rank in range(2)]
    for p in procs:
        p.start()
    try:
        procs[0].join(timeout=60 + TIMEOUT_S)  # startup, then at most the timeout
        assert procs[0].exitcode == 0, 'rank 0 did not end within the deadline'
        with open(tmp_path / 'rank0.json') as f:
            rank0 = json.load(f)
        assert rank0['outcome'] != 'completed'
        assert TIMEOUT_S * 0.8 <= rank0['seconds'] <= TIMEOUT_S + 10, rank0
        assert 'timed out' in rank0['outcome'].lower() or 'timeout' in rank0['outcome'].lower()
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()  # SIGKILL ends the stopped rank too
            p.join(timeout=30)


def test_dist_timeout_is_checked():
    with pytest.raises(ValueError, match=r'^dist_timeout must be >= 0'):
        check_dist_timeout(-1)
