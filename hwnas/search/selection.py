"""How a search judges architectures: the loss its architecture step descends, the held-out score it compares
by, and a candidate trained for a share of the budget and scored on held-out examples (random search's
candidates, and the differentiable search's proposals under ``resolution_choice = "trained"``)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from hwnas.space.architecture import Architecture
from hwnas.space.declared import SpacePreset
from hwnas.train.objective import Task
from hwnas.train.trainer import TrainConfig, fit


def arch_objective(task: Task, arch_loss: str) -> Callable[..., torch.Tensor]:
    """The loss the architecture step descends (``SearchConfig.arch_loss``)."""
    return task.selection_loss if arch_loss == "selection" else task.loss


def arch_score(task: Task, arch_loss: str) -> Callable[..., float]:
    """Its held-out form, by which random search keeps a candidate."""
    return task.selection_score if arch_loss == "selection" else task.score


@dataclass(frozen=True)
class CandidateTraining:
    """Trains one candidate from the task's initial state and returns its held-out score (a job: it may run in
    another process, on a copy of the task). With ``run_dir`` each candidate checkpoints in ``<run_dir>/<i>``."""

    preset: SpacePreset
    train: TrainConfig
    fit_split: torch.Tensor  # example indices
    held_out: torch.Tensor
    run_dir: Path | None
    torch_device: str
    progress: bool
    arch_loss: str  # SearchConfig.arch_loss: the score that ranks the candidates
    label: str = "candidate"

    def __call__(self, task: Task, numbered: tuple[int, Architecture]) -> float:
        i, arch = numbered
        initial = copy.deepcopy(task.state_dict())
        try:
            torch.manual_seed(self.train.seed)
            net = task.network(arch, self.preset)
            folder = self.run_dir / str(i) if self.run_dir is not None else None
            label = f"{self.label} {i}"
            fit(net, task, self.train, folder, self.fit_split, self.progress, self.torch_device, label=label)
            examples = task.batch(self.held_out[: 4 * self.train.batch])
            with torch.no_grad():
                batch = {k: v.to(self.torch_device) for k, v in examples.items()}
                return float(arch_score(task, self.arch_loss)(net(batch["views"]), batch))
        finally:
            task.load_state_dict(initial)  # the next candidate starts from the same loss state
