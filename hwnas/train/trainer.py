"""One trainer for every network and task: training from scratch, each random-search candidate, and the
weight steps of the differentiable search.

AdamW with a cosine or constant learning rate. ``fit`` draws batches as a function of (seed, step), and
checkpoints into a run directory from which a killed run resumes to exactly the weights of an unbroken one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from hwnas.train.checkpoint import load_checkpoint, save_checkpoint
from hwnas.train.distributed import check_divides, current_world, data_parallel, mean_over_ranks, shard
from hwnas.train.objective import Task

CHECKPOINT = "checkpoint.pt"
SCHEDULES = ("cosine", "constant")


@dataclass(frozen=True)
class TrainConfig:
    steps: int
    batch: int
    lr: float = 2e-3
    seed: int = 0
    checkpoint_every: int = 100
    schedule: str = "cosine"
    weight_decay: float = 1e-4


class Trainer:
    """The optimiser side of training: one ``step`` is forward, task loss, backward, AdamW, schedule."""

    def __init__(self, model: nn.Module, task: Task, config: TrainConfig, params: Iterable[nn.Parameter] | None = None):
        if config.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}")
        self.model, self.task, self.config = model, task, config
        self.optimizer = torch.optim.AdamW(
            list(params) if params is not None else model.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )
        steps = config.steps
        cosine = config.schedule == "cosine"
        self.schedule = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)) if cosine else 1.0
        )

    def step(self, batch: dict[str, torch.Tensor], step: int, paths: Sequence[Callable[[], None]] = ()) -> torch.Tensor:
        """One optimiser step; returns the loss. ``paths``: set-ups of the model (a supernet's path) whose
        gradients on this batch add up before the step (the sandwich rule), their mean loss returned."""
        self.optimizer.zero_grad(set_to_none=True)
        losses = []
        for setup in paths or (None,):
            if setup is not None:
                setup()
            loss = self.task.loss(self.model(batch["views"]), batch, step)
            loss.backward()
            losses.append(loss.detach())
        self.optimizer.step()
        self.schedule.step()
        return torch.stack(losses).mean()

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(), "schedule": self.schedule.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])


def batch_indices(pool: torch.Tensor, step: int, seed: int, size: int) -> torch.Tensor:
    """Batches depend only on (seed, step): a resumed run sees exactly the batches an unbroken one would."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + step)
    return pool[torch.randint(len(pool), (size,), generator=g)]


def fit(
    model: nn.Module,
    task: Task,
    config: TrainConfig,
    run_dir: Path | None = None,
    pool: torch.Tensor | None = None,
    progress: bool = True,
    torch_device: str = "cpu",
    stop_after: int | None = None,
    label: str = "train",
) -> dict:
    """Train to ``config.steps`` (or pause at ``stop_after``) on ``pool`` (default: the task's training pool),
    resuming from ``<run_dir>/checkpoint.pt`` when there is one. Under torchrun each process trains on its slice
    of the same global batch and only rank 0 writes the checkpoint."""
    world = current_world()
    check_divides(config.batch, world)
    torch.manual_seed(config.seed)
    device = torch.device(torch_device)
    model.to(device)
    task.to(device)
    trainer = Trainer(data_parallel(model, torch_device), task, config, params=model.parameters())
    ckpt = Path(run_dir) / CHECKPOINT if run_dir is not None else None
    step, history = 0, []
    if ckpt is not None and ckpt.exists():
        state = load_checkpoint(ckpt, ("model", "task", "optimizer", "schedule", "step", "history"))
        model.load_state_dict(state["model"])
        task.load_state_dict(state["task"])
        trainer.load_state_dict(state)
        step, history = state["step"], state["history"]
    pool = task.train_pool() if pool is None else pool
    model.train()
    task.train()
    start = time.perf_counter()
    last = min(config.steps, stop_after) if stop_after is not None else config.steps
    bar = tqdm(total=config.steps, initial=step, desc=label, unit="step", disable=not progress or not world.is_main,
               dynamic_ncols=True)  # fmt: skip
    while step < last:
        idx = shard(batch_indices(pool, step, config.seed, config.batch), world)
        batch = {k: v.to(device) for k, v in task.batch(idx).items()}
        history.append(mean_over_ranks(trainer.step(batch, step)).item())
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{history[-1]:.4f}", refresh=False)
        if ckpt is not None and world.is_main and (step % config.checkpoint_every == 0 or step == last):
            state = {"model": model.state_dict(), "task": task.state_dict(), **trainer.state_dict()}
            save_checkpoint(ckpt, {**state, "step": step, "history": history})
    bar.close()
    model.eval()
    task.eval()
    return {"steps": step, "final_loss": history[-1] if history else None, "wall_s": time.perf_counter() - start}
