"""torch.distributed helpers for DAL: one process per device, identical anchors.

Every rank must apply the same anchor updates, so before each update the
features, tracklet labels and cameras of all ranks are gathered into the global
batch, in rank order. The local features keep their gradient inside that
global batch; the others are constants.
"""
from __future__ import annotations

import datetime
import os

import torch
import torch.distributed as dist
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel

DIST_TIMEOUT = 0  # seconds a collective may wait for the other ranks; 0: torch's default


def check_dist_timeout(dist_timeout: int) -> None:
    if dist_timeout < 0:
        raise ValueError(f'dist_timeout must be >= 0 seconds (0: torch\'s default), '
                         f'got {dist_timeout}')


def world() -> tuple[int, int]:
    """(rank, world size); (0, 1) when torch.distributed is not initialised."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main_process() -> bool:
    return world()[0] == 0


def gather_global_batch(features: Tensor, labels: Tensor, camids: Tensor
                        ) -> tuple[Tensor, Tensor, Tensor]:
    """All ranks' (features, labels, camids) concatenated in rank order.

    Only this rank's slice of the features carries gradient. With one process
    the inputs are returned as they are. Every rank must pass the same batch size.
    """
    rank, size = world()
    if size == 1:
        return features, labels, camids

    def gather(x: Tensor) -> list[Tensor]:
        out = [torch.empty_like(x) for _ in range(size)]
        dist.all_gather(out, x.contiguous())
        return out

    feats = gather(features.detach())
    feats[rank] = features
    return torch.cat(feats), torch.cat(gather(labels)), torch.cat(gather(camids))


def wrap_distributed(model: torch.nn.Module, use_gpu: bool) -> torch.nn.Module:
    """``model`` in ``DistributedDataParallel`` (on this process's GPU when ``use_gpu``)."""
    if isinstance(model, DistributedDataParallel):
        return model
    return DistributedDataParallel(
        model, device_ids=[torch.cuda.current_device()] if use_gpu else None)


def broadcast_seed(seed: int | None) -> int | None:
    """Rank 0's seed on every rank (drawing one from torch when it is None)."""
    rank, size = world()
    if size == 1:
        return seed
    value = torch.tensor([seed if seed is not None else int(torch.randint(0, 2 ** 31, ()))],
                         dtype=torch.long)
    if dist.get_backend() == 'nccl':
        value = value.cuda()
    dist.broadcast(value, src=0)
    return int(value.item())


class NullWriter:
    """A SummaryWriter stand-in for ranks other than 0: writes nothing.

    Args:
        None: it takes no arguments; every ``add_scalar`` is dropped.

    Examples::

        writer = SummaryWriter(log_dir=save_dir) if is_main_process() else NullWriter()
        writer.add_scalar('Train/loss', 0.5, 1)  # logged by rank 0 only
    """

    def add_scalar(self, *args, **kwargs) -> None:
        pass

    def close(self) -> None:
        pass


def init_from_environment(use_gpu: bool, dist_timeout: int = DIST_TIMEOUT) -> bool:
    """Joins the process group that ``torchrun`` describes in the environment.

    With ``WORLD_SIZE`` > 1 (set by ``torchrun --nproc_per_node=N``, also across
    nodes), initialises torch.distributed from ``MASTER_ADDR``/``MASTER_PORT``,
    ``RANK`` and ``WORLD_SIZE``: NCCL with one GPU per process (``LOCAL_RANK``)
    when ``use_gpu`` and CUDA is there, gloo on the CPU. A collective that waits
    longer than ``dist_timeout`` seconds for another rank (a crashed or frozen
    process) fails instead of waiting; 0 keeps torch's default (30 minutes for
    gloo, 10 for NCCL). Returns whether the process runs distributed.
    """
    check_dist_timeout(dist_timeout)
    if dist.is_available() and dist.is_initialized():
        return True
    if int(os.environ.get('WORLD_SIZE', '1')) <= 1:
        return False
    timeout = {'timeout': datetime.timedelta(seconds=dist_timeout)} if dist_timeout else {}
    if use_gpu and torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get('LOCAL_RANK', '0')))
        dist.init_process_group('nccl', **timeout)
    else:
        dist.init_process_group('gloo', **timeout)
    return True


def shard(total: int) -> range:
    """This rank's share of ``total`` items: every ``world size``-th, from its rank."""
    rank, size = world()
    return range(rank, total, size)


def gather_shards(rows: Tensor, total: int) -> Tensor:
    """The ``(total, ...)`` rows that the ranks computed on their :func:`shard`, in order.

    With one process, ``rows`` as they are.
    """
    rank, size = world()
    if size == 1:
        return rows
    width = -(-total // size)
    padded = rows.new_zeros((width,) + tuple(rows.shape[1:]))
    padded[:len(rows)] = rows
    if dist.get_backend() == 'nccl':
        padded = padded.cuda()
    parts = [torch.empty_like(padded) for _ in range(size)]
    dist.all_gather(parts, padded)
    out = rows.new_empty((total,) + tuple(rows.shape[1:]))
    for r, part in enumerate(parts):
        out[r::size] = part[:len(range(r, total, size))].to(out.device)
    return out


def broadcast_from_main(value: Tensor) -> Tensor:
    """Rank 0's ``value`` (same shape and type on every rank) on every rank."""
    if world()[1] == 1:
        return value
    sent = value.cuda() if dist.get_backend() == 'nccl' else value.clone()
    dist.broadcast(sent, src=0)
    return sent.to(value.device)
