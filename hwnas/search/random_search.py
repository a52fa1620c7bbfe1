"""Random search at equal budget: the baseline the differentiable search must beat.

Draws architectures uniformly, keeps those the same LatencyTable predicts within the target's tolerance,
trains each for an equal share of the search's weight passes with the same task and trainer, and keeps the one
with the lowest selection score (``SearchConfig.arch_loss``) on held-out training frames. With a run directory
every candidate trains in its own checkpointed folder, so a killed random search resumes where it stopped.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from hwnas.core.errors import HwnasError
from hwnas.core.jobs import IN_PROCESS, JobOptions, map_jobs
from hwnas.lut.table import LatencyTable
from hwnas.search.config import SearchConfig
from hwnas.search.derive import fit_architecture, random_preferences
from hwnas.search.loop import SearchResult, bind_search_config, split_pool
from hwnas.search.selection import CandidateTraining
from hwnas.search.target import TOLERANCE
from hwnas.space.architecture import Architecture
from hwnas.space.declared import SpacePreset
from hwnas.train.objective import Task
from hwnas.train.trainer import TrainConfig


def feasible_architectures(
    preset: SpacePreset,
    table: LatencyTable,
    target_ms: float,
    count: int,
    tolerance: float = TOLERANCE,
    seed: int = 0,
    max_draws: int = 200,
) -> list[Architecture]:
    """Up to ``count`` distinct random architectures predicted within ``tolerance`` of the target: each drawn
    uniformly, then, when it misses, walked onto the target by changes in a random order of preference
    (uniform draws cluster in the middle of a space's range and almost never land on a target near its ends)."""
    rng = random.Random(seed)

    def on_target(arch: Architecture) -> bool:
        return abs(table.predict_ms(arch.op_specs(preset)) / target_ms - 1) <= tolerance

    found: dict[str, Architecture] = {}
    for _ in range(max_draws):
        arch = Architecture.sample(preset, rng)
        if not on_target(arch):
            arch = fit_architecture(arch, preset, table, target_ms, random_preferences(preset, rng), tolerance)
            if not on_target(arch):
                continue
        found.setdefault(arch.to_json(), arch)
        if len(found) == count:
            break
    if not found:
        raise HwnasError(
            f"no random architecture of {preset.space}/{preset.preset} is predicted within "
            f"{tolerance:.0%} of {target_ms} ms; pick a target inside the space's latency range"
        )
    return list(found.values())


def random_search(
    preset: SpacePreset,
    table: LatencyTable,
    task: Task,
    config: SearchConfig,
    candidates: int = 4,
    run_dir: Path | None = None,
    binding: dict[str, Any] | None = None,
    torch_device: str = "cpu",
    progress: bool = False,
    jobs: JobOptions = IN_PROCESS,
) -> SearchResult:
    """Spend the search's weight passes (``config.weight_passes``) in total, split evenly over the candidates,
    one pass a training step; with ``jobs.ray`` the candidates train at once as Ray tasks, each as it would
    here."""
    start = time.perf_counter()
    if run_dir is not None:
        bind_search_config(run_dir, config, binding, task)
    archs = feasible_architectures(preset, table, config.target.milliseconds, candidates, seed=config.seed)
    steps_each = max(config.weight_passes // len(archs), 1)
    train_config = TrainConfig(
        steps_each, config.batch, config.lr_weights, config.seed, config.checkpoint_every, schedule="constant"
    )
    fit_split, held_out, _ = split_pool(task, config.seed)
    folder = run_dir / "candidates" if run_dir is not None else None
    candidate = CandidateTraining(
        preset, train_config, fit_split, held_out, folder, torch_device, progress and not jobs.ray, config.arch_loss
    )
    scores = map_jobs(candidate, list(enumerate(archs)), jobs, shared=[task], desc="candidates", progress=progress)
    history, best = [], None
    for arch, score in zip(archs, scores, strict=True):
        predicted = table.predict_ms(arch.op_specs(preset))
        history.append({"predicted_ms": predicted, "held_out_loss": score, "steps": steps_each})
        if best is None or score < best[0]:
            best = (score, arch, predicted)
    assert best is not None
    return SearchResult(best[1], best[2], history, time.perf_counter() - start)
