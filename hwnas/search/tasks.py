"""The search task a space declares (``task = "..."`` in its TOML), built for a search run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hwnas.errors import HwnasError
from hwnas.search.search import SearchConfig
from hwnas.search.task import SearchTask
from hwnas.searchspaces.declarative import SpacePreset

KNOWN_TASKS = ("avatar", "digits")
SEARCH_STEPS = {"tiny": 30, "small": 400, "paper": 20000}


@dataclass(frozen=True)
class TaskSetup:
    task: SearchTask
    batch: int
    steps: int  # default search steps
    render_size: int = 0  # avatar only: resolution of the rendered avatar in the loss

    def search_config(self, target_ms: float, steps: int | None = None, **settings: Any) -> SearchConfig:
        """The task's batch, render size and default steps; architecture steps start after the first fifth."""
        steps = steps or self.steps
        return SearchConfig(
            target_ms=target_ms,
            steps=steps,
            batch=self.batch,
            render_size=self.render_size,
            warmup=max(1, steps // 5),
            **settings,
        )


def build_task(preset: SpacePreset, seed: int, ee_loss: bool = True) -> TaskSetup:
    if preset.task == "avatar":
        from hwnas.avatar.data import synthesize, task_preset
        from hwnas.avatar.search_task import AvatarSearchTask

        spec = task_preset(preset.preset)
        render = min(spec.render_size, 32)
        task = AvatarSearchTask(synthesize(spec, seed=seed), render, ee_loss)
        return TaskSetup(task, spec.batch, SEARCH_STEPS[preset.preset], render)
    if preset.task == "digits":
        from hwnas.digits import DigitsTask

        (view, branch), *rest = preset.branches
        if rest:
            raise HwnasError(f"the digits task needs a space with one branch, {preset.space!r} has several")
        return TaskSetup(DigitsTask(seed, view, branch), 64, {"tiny": 30, "small": 300}.get(preset.preset, 1000))
    raise HwnasError(
        f"space {preset.space!r} declares task {preset.task!r}, which hwnas cannot train; "
        f"known tasks: {', '.join(KNOWN_TASKS)}"
    )
