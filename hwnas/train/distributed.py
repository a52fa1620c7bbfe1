"""Data parallelism under ``torchrun``: who this process is, and the few collectives the loops need.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK in each process it starts. Without them the world is one
process, every helper below is a no-op, and a run is exactly what it was before data parallelism existed.
With them, ``join`` opens the process group (gloo on CPU, NCCL on GPU); every rank draws the same global
batch from the same seeded stream and trains on its own slice, DistributedDataParallel averages the
gradients, and only rank 0 writes files. ``on_main`` runs the one-rank parts (profiling, reports) on rank 0
and hands their result, or their error, to every rank.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_nn
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from hwnas.core.errors import HwnasError

T = TypeVar("T")


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def parallel(self) -> bool:
        return self.size > 1


def current_world() -> World:
    """This process's place among the processes torchrun started (one process without torchrun)."""
    try:
        return World(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                     int(os.environ.get("LOCAL_RANK", 0)))  # fmt: skip
    except ValueError:
        raise HwnasError("RANK, WORLD_SIZE and LOCAL_RANK must be whole numbers (torchrun sets them)") from None


def join(torch_device: str) -> tuple[World, str]:
    """Open the process group when torchrun started several processes; returns the world and this rank's torch
    device (``cuda`` becomes ``cuda:<local rank>``: one GPU per process)."""
    world = current_world()
    if not world.parallel:
        return world, torch_device
    device = torch.device(torch_device)
    if device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return world, str(device)


def leave() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def check_divides(batch: int, world: World) -> None:
    if world.parallel and batch % world.size:
        raise HwnasError(
            f"the batch of {batch} does not split evenly over {world.size} processes; run a number of processes "
            f"that divides {batch}"
        )


def shard(items: torch.Tensor, world: World) -> torch.Tensor:
    """This rank's slice of a global batch (ranks in order: together they are the whole batch)."""
    return items.tensor_split(world.size)[world.rank] if world.parallel else items


def data_parallel(
    model: nn.Module, torch_device: str, find_unused: bool = False, replicated: Iterable[str] = ()
) -> nn.Module:
    """``model`` wrapped in DistributedDataParallel when several processes run (itself otherwise).
    ``replicated`` names parameters whose gradient every rank computes alike outside the forward pass (a
    REINFORCE surrogate from a reward the ranks share): DDP leaves them alone. The BatchNorms normalise by the
    statistics of the global batch (SyncBatchNorm on GPU, GlobalBatchNorm2d on CPU), so N processes compute what
    one process would on the whole batch."""
    if not _active():
        return model
    DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(model, list(replicated))
    device = torch.device(torch_device)
    if device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return DistributedDataParallel(model, device_ids=[device.index], find_unused_parameters=find_unused)
    for module in model.modules():
        if type(module) is nn.BatchNorm2d:
            module.__class__ = GlobalBatchNorm2d  # same parameters and buffers, global statistics
    return DistributedDataParallel(model, find_unused_parameters=find_unused)


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are those of the global batch over every rank: what torch's
    SyncBatchNorm does on GPUs, for gloo on CPUs. One differentiable all-reduce of (sum, sum of squares, count)
    per layer; gradients flow back through it to every rank's slice."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and _active()):
            return super().forward(x)
        c = x.shape[1]
        count = torch.full((1,), x.numel() // c, dtype=x.dtype, device=x.device)
        stats = dist_nn.all_reduce(torch.cat([x.sum((0, 2, 3)), x.pow(2).sum((0, 2, 3)), count]))
        n = stats[-1]
        mean = stats[:c] / n
        var = (stats[c : 2 * c] / n - mean.pow(2)).clamp(min=0)
        if self.track_running_stats and self.running_mean is not None and self.running_var is not None:
            self.num_batches_tracked.add_(1)
            momentum = self.momentum if self.momentum is not None else 1 / float(self.num_batches_tracked)
            with torch.no_grad():
                self.running_mean.lerp_(mean, momentum)
                self.running_var.lerp_(var * n / (n - 1), momentum)  # unbiased, as BatchNorm keeps it
        y = (x - mean[None, :, None, None]) * torch.rsqrt(var + self.eps)[None, :, None, None]
        if self.affine:
            y = y * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        return y


def mean_over_ranks(value: torch.Tensor) -> torch.Tensor:
    """The mean of ``value`` over all ranks (itself in one process); for statistics the ranks must share."""
    if not _active():
        return value
    out = value.detach().clone()
    dist.all_reduce(out)
    return out / dist.get_world_size()


def on_main(fn: Callable[[], T]) -> T:
    """Run ``fn`` on rank 0 only and return its result on every rank; a user error there is raised on every
    rank (the others would otherwise wait for rank 0 forever)."""
    if not _active():
        return fn()
    box: list[object] = [None]
    if dist.get_rank() == 0:
        try:
            box[0] = ("ok", fn())
        except HwnasError as exc:
            box[0] = ("error", str(exc))
        except BaseException as exc:
            box[0] = ("error", f"rank 0 failed: {type(exc).__name__}: {exc}")
            dist.broadcast_object_list(box, src=0)
            raise
    dist.broadcast_object_list(box, src=0)
    status, value = box[0]  # type: ignore[misc]
    if status == "error":
        raise HwnasError(value)  # type: ignore[arg-type]
    return value  # type: ignore[return-value]


def check_in_sync(tensors: Iterable[torch.Tensor], what: str) -> None:
    """Every rank holds the same ``tensors`` (cheap: one checksum each). Data-parallel ranks must never
    diverge in what they decide; if they do, say so instead of returning rank 0's answer as if nothing happened."""
    if not _active():
        return
    local = torch.stack([t.detach().double().sum() for t in tensors])
    gathered = [torch.empty_like(local) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, local)
    if any(not torch.allclose(g, gathered[0], rtol=1e-5, atol=1e-6) for g in gathered[1:]):
        raise HwnasError(f"the processes disagree on the {what}; this is a bug in hwnas, please report it")
