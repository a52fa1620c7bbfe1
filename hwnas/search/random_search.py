"""Random search at equal budget: the baseline the differentiable search must beat.

Draws architectures uniformly, keeps those the same LatencyTable predicts within the target's tolerance,
trains each for an equal share of the search's step budget with the same loss, and keeps the one with the
lowest loss on held-out training frames.
"""

from __future__ import annotations

import copy
import random
import time

import torch

from hwnas.architecture import Architecture
from hwnas.errors import HwnasError
from hwnas.lut.table import LatencyTable
from hwnas.network import ArchitectureNetwork
from hwnas.search.search import SearchConfig, SearchResult, split_pool
from hwnas.search.task import SearchTask
from hwnas.searchspaces.declarative import SpacePreset


def feasible_architectures(
    preset: SpacePreset,
    table: LatencyTable,
    target_ms: float,
    count: int,
    tolerance: float = 0.1,
    seed: int = 0,
    max_draws: int = 20000,
) -> list[Architecture]:
    """Up to ``count`` distinct random architectures predicted within ``tolerance`` of the target."""
    rng = random.Random(seed)
    found: dict[str, Architecture] = {}
    for _ in range(max_draws):
        arch = Architecture.sample(preset, rng)
        if abs(table.predict_ms(arch.op_specs(preset)) / target_ms - 1) <= tolerance:
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
    task: SearchTask,
    config: SearchConfig,
    candidates: int = 4,
) -> SearchResult:
    """Spend ``config.steps`` weight steps in total, split evenly over the candidates."""
    start = time.perf_counter()
    archs = feasible_architectures(preset, table, config.target_ms, candidates, seed=config.seed)
    steps_each = max(config.steps // len(archs), 1)
    fit, held_out, g = split_pool(task, config.seed)
    history, best = [], None
    initial_task_state = copy.deepcopy(task.state_dict())
    for arch in archs:
        torch.manual_seed(config.seed)
        task.load_state_dict(initial_task_state)  # every candidate starts from the same loss state
        net = ArchitectureNetwork(arch, preset).train()
        task.train()
        opt = torch.optim.AdamW(net.parameters(), lr=config.lr_weights, weight_decay=1e-4)
        for step in range(steps_each):
            batch = task.batch(fit[torch.randint(len(fit), (config.batch,), generator=g)])
            loss = task.loss(net(batch["views"]), batch, step)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        net.eval()
        task.eval()
        with torch.no_grad():
            batch = task.batch(held_out[: 4 * config.batch])
            score = task.score(net(batch["views"]), batch)
        predicted = table.predict_ms(arch.op_specs(preset))
        history.append({"predicted_ms": predicted, "held_out_loss": score, "steps": steps_each})
        if best is None or score < best[0]:
            best = (score, arch, predicted)
    assert best is not None
    return SearchResult(best[1], best[2], history, time.perf_counter() - start)
