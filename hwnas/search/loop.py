"""The differentiable search loop: alternate weight steps and architecture steps on separate data splits."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from hwnas.core.errors import HwnasError
from hwnas.lut.table import LatencyTable
from hwnas.search.config import RETIRED, SANDWICH_PATHS, SearchConfig, temperature
from hwnas.search.derive import fit_to_target, proposals_per_resolution
from hwnas.search.latency import LatencyModel
from hwnas.search.optim import SharedScaleAdam
from hwnas.search.selection import CandidateTraining, arch_objective, arch_score
from hwnas.search.supernet import Sampling, Supernet
from hwnas.space.architecture import Architecture
from hwnas.space.declared import SpacePreset
from hwnas.train.checkpoint import load_checkpoint, save_checkpoint
from hwnas.train.distributed import check_divides, check_in_sync, current_world, data_parallel, mean_over_ranks, shard
from hwnas.train.objective import Task
from hwnas.train.rundir import bind_config, defaults_of, with_task_settings
from hwnas.train.trainer import TrainConfig, Trainer

SEARCH_CHECKPOINT = "search.pt"
SEARCH_CONFIG = "search-config.json"


@dataclass
class SearchResult:
    architecture: Architecture
    predicted_ms: float
    history: list[dict[str, float]]
    wall_s: float
    argmax_predicted_ms: float | None = None  # the plain argmax architecture, before fit_to_target
    proposals: list[dict[str, Any]] | None = None  # unless resolution_choice is "policy": each one and its score


def split_pool(task: Task, seed: int, share: float = 0.8) -> tuple[torch.Tensor, torch.Tensor, torch.Generator]:
    """The task's training examples shuffled by seed and cut into ``share`` and the rest; the generator goes
    on to draw the batches."""
    g = torch.Generator().manual_seed(seed)
    pool = task.train_pool()
    pool = pool[torch.randperm(len(pool), generator=g)]
    cut = int(share * len(pool))
    return pool[:cut], pool[cut:], g


def search(
    preset: SpacePreset,
    table: LatencyTable,
    task: Task,
    config: SearchConfig,
    progress: bool = True,
    torch_device: str = "cpu",
    run_dir: Path | None = None,
    binding: dict[str, Any] | None = None,
) -> SearchResult:
    """Run the search; with ``run_dir`` it checkpoints every ``config.checkpoint_every`` steps and resumes
    from there (weights, architecture parameters, optimisers, policies and random states), so a killed
    search continues exactly where an unbroken one would be. The folder is bound to the config plus
    ``binding`` (space, device, ...): a re-run with other settings is refused.

    Under torchrun each process trains on its slice of the same global batch (``config.batch``), and every
    process samples the same paths and resolutions from the same seeded stream; only rank 0 writes."""
    world = current_world()
    check_divides(config.batch, world)
    if world.parallel and config.resolution_choice == "trained":
        raise HwnasError(
            "resolution_choice 'trained' trains its proposals one after another in one process; run that search "
            "without torchrun, or choose 'policy' or 'held-out'"
        )
    torch.manual_seed(config.seed)
    device = torch.device(torch_device)
    net = Supernet(preset).to(device)
    policies = [f"policies.{v}.theta" for v in net.policies]  # their gradient comes from the shared reward
    model = data_parallel(net, torch_device, find_unused=True, replicated=policies)  # net itself in one process
    soft = config.op_sampling == "soft"
    hard_width = config.width_sampling == "hard"
    latency = LatencyModel(preset, table)
    task = task.to(device)
    weights = Trainer(
        model,
        task,
        TrainConfig(config.supernet_steps, config.batch, config.lr_weights, config.seed, schedule="constant"),
        params=net.weight_parameters(),
    )
    # Two optimisers over the same architecture parameters, each normalising its own gradient: one follows the
    # task, one the latency loss. In one Adam the latency gradient sets the step size even at the target
    # (benchmarks/search_gradients.py); apart, the latency optimiser falls quiet where its gradient flips sign
    # around the target and pushes back at full strength when the task drifts off it.
    arch_params = [*net.arch_parameters(), *(p.theta for p in net.policies.values())]
    a_opt = torch.optim.Adam(arch_params, lr=config.lr_arch, betas=(0.5, 0.999))
    l_opt = (SharedScaleAdam if config.latency_step == "shared" else torch.optim.Adam)(
        arch_params, lr=config.lr_arch, betas=(0.5, 0.999)
    )
    weight_split, arch_split, g = split_pool(task, config.seed)  # separate splits for weights and architecture
    history: list[dict[str, float]] = []
    first, spent = 0, 0.0
    ckpt = run_dir / SEARCH_CHECKPOINT if run_dir is not None else None
    if run_dir is not None and world.is_main:
        bind_search_config(run_dir, config, binding, task)
    if ckpt is not None and ckpt.exists():
        state = load_checkpoint(
            ckpt, ("net", "task", "weights", "a_opt", "l_opt", "policies", "data_rng", "step", "history")
        )
        net.load_state_dict(state["net"])
        task.load_state_dict(state["task"])
        weights.load_state_dict(state["weights"])
        a_opt.load_state_dict(state["a_opt"])
        l_opt.load_state_dict(state["l_opt"])
        for v, current in state["policies"].items():
            net.policies[v].current = current
        torch.set_rng_state(state["torch_rng"])
        if device.type == "cuda" and "cuda_rng" in state:
            torch.cuda.set_rng_state(state["cuda_rng"], device)
        g.set_state(state["data_rng"])
        first, history, spent = state["step"], state["history"], state["wall_s"]
    start = time.perf_counter()
    bar = tqdm(total=config.supernet_steps, initial=first, desc="search", unit="step",
               disable=not progress or not world.is_main)  # fmt: skip
    for step in range(first, config.supernet_steps):
        tau = temperature(step, config)
        batch = _batch(task, weight_split, config.batch, g, device)
        loss = weights.step(batch, step, weight_paths(net, config, step, tau))
        record = {"step": step, "tau": tau, "weight_loss": mean_over_ranks(loss).item()}
        if step >= config.warmup:
            # architecture step: comparative op gradients (gates), the exact expected latency over every choice
            # and resolution, and REINFORCE for the task's verdict on the sampled resolutions
            net.sampling = Sampling(tau, "soft" if soft else "gates", hard_width)
            for policy in net.policies.values():
                policy.sample(tau)
            batch = _batch(task, arch_split, config.batch, g, device)
            task_loss = arch_objective(task, config.arch_loss)(model(batch["views"]), batch, step)
            arch_loss = mean_over_ranks(task_loss.detach()).item()  # one reward for every rank's policies
            surrogate = sum(p.surrogate(-arch_loss) for p in net.policies.values())
            a_opt.zero_grad(set_to_none=True)
            (task_loss + surrogate).backward()
            a_opt.step()
            lat = latency.expected(net)
            lat_loss = config.target.loss(lat, config.latency_loss)
            l_opt.zero_grad(set_to_none=True)
            (config.latency_weight * lat_loss).backward()
            l_opt.step()
            record.update(arch_loss=arch_loss, latency_ms=lat.item(), latency_loss=lat_loss.item())
            bar.set_postfix(lat=f"{lat.item():.3f}ms", loss=f"{arch_loss:.4f}", refresh=False)
        history.append(record)
        bar.update(1)
        done = step + 1
        last = done == config.supernet_steps
        if ckpt is not None and world.is_main and (done % config.checkpoint_every == 0 or last):
            save_checkpoint(
                ckpt,
                {
                    "net": net.state_dict(),
                    "task": task.state_dict(),
                    "weights": weights.state_dict(),
                    "a_opt": a_opt.state_dict(),
                    "l_opt": l_opt.state_dict(),
                    "policies": {v: p.current for v, p in net.policies.items()},
                    "torch_rng": torch.get_rng_state(),
                    **({"cuda_rng": torch.cuda.get_rng_state(device)} if device.type == "cuda" else {}),
                    "data_rng": g.get_state(),
                    "step": done,
                    "history": history,
                    "wall_s": spent + time.perf_counter() - start,
                },
            )
    bar.close()
    check_in_sync([*arch_params, *net.weight_parameters()], "architecture parameters and weights")
    argmax_ms = table.predict_ms(net.derive().op_specs(preset))
    proposals = None
    if config.resolution_choice == "policy":
        arch = fit_to_target(net, table, config.target.milliseconds)
    else:
        candidates = proposals_per_resolution(net, table, config.target.milliseconds)
        if config.resolution_choice == "held-out":
            scores = sub_network_scores(net, task, candidates, arch_split, config.arch_loss)
        else:
            scores = trained_scores(preset, task, config, candidates, (weight_split, arch_split), run_dir, device,
                                    progress)  # fmt: skip
        arch = candidates[scores.index(min(scores))]
        proposals = [{"resolutions": a.resolutions, "predicted_ms": table.predict_ms(a.op_specs(preset)),
                      config.resolution_choice: s} for a, s in zip(candidates, scores, strict=True)]  # fmt: skip
    predicted = table.predict_ms(arch.op_specs(preset))
    return SearchResult(arch, predicted, history, spent + time.perf_counter() - start, argmax_ms, proposals)


def trained_scores(
    preset: SpacePreset,
    task: Task,
    config: SearchConfig,
    archs: list[Architecture],
    splits: tuple[torch.Tensor, torch.Tensor],  # the examples they train on, the held-out ones
    run_dir: Path | None,
    device: torch.device,
    progress: bool,
) -> list[float]:
    """Each proposal trained from the task's initial state for an equal share of the steps the supernet left,
    scored on held-out examples as random search scores its candidates; checkpointed under
    ``<run_dir>/proposals``."""
    steps = max((config.steps - config.supernet_steps) // len(archs), 1)
    train = TrainConfig(steps, config.batch, config.lr_weights, config.seed, config.checkpoint_every, "constant")
    folder = run_dir / "proposals" if run_dir is not None else None
    job = CandidateTraining(preset, train, *splits, folder, str(device), progress, config.arch_loss, "proposal")
    return [job(task, numbered) for numbered in enumerate(archs)]


@torch.no_grad()
def sub_network_scores(
    net: Supernet, task: Task, archs: list[Architecture], pool: torch.Tensor, arch_loss: str, chunk: int = 256
) -> list[float]:
    """Each architecture's held-out score (lower is better) as the sub-network of the supernet it is, on
    ``pool``; the supernet is left as it was (its choices, and the running statistics a pass in training mode
    moves)."""
    saved = {k: v.clone() for k, v in net.state_dict().items()}
    sampling, current = net.sampling, {v: p.current for v, p in net.policies.items()}
    score = arch_score(task, arch_loss)
    scores = []
    try:
        for arch in archs:
            net.select(arch)
            net.sampling = Sampling(ops="hard", hard_width=True)
            parts = [score(net(batch["views"]), batch) for batch in
                     (_to(task.batch(idx), next(net.parameters()).device) for idx in pool.split(chunk))]  # fmt: skip
            scores.append(sum(parts) / len(parts))
    finally:
        net.load_state_dict(saved)
        net.sampling = sampling
        for v, p in net.policies.items():
            p.current = current[v]
    return scores


def bind_search_config(
    run_dir: Path, config: SearchConfig, binding: dict[str, Any] | None = None, task: Task | None = None
) -> None:
    """Bind a search folder to ``binding`` (space, device, ...) plus ``config`` and the task's settings; a folder
    written before a setting existed counts as having run as it did then (``defaults_of``)."""
    settings = with_task_settings({**(binding or {}), **config.record()}, task.settings() if task else {},
                                  getattr(task, "name", ""))  # fmt: skip
    before = {**defaults_of(SearchConfig), **(task.settings_before() if task else {})}
    bind_config(run_dir, settings, SEARCH_CONFIG, before, RETIRED)


def weight_paths(net: Supernet, config: SearchConfig, step: int, tau: float) -> list[Callable[[], None]]:
    """The paths one weight step trains on its batch, each a set-up of the supernet: one sampled path (every
    op of it with soft ops) — during the warm-up, or always with uniform weight sampling, every choice alike —
    or the sandwich rule's largest child, smallest child and two uniform paths."""
    ops = "soft" if config.op_sampling == "soft" else "hard"
    hard_width = config.width_sampling == "hard"
    uniform = config.weight_sampling != "policy"

    def path(alike: bool, end: str | None = None) -> Callable[[], None]:
        def setup() -> None:
            net.sampling = Sampling(tau, ops, hard_width, uniform=uniform, end=end)
            for policy in net.policies.values():
                if alike:
                    policy.sample_uniform()
                else:
                    policy.sample(tau)
            net.set_end(end)

        return setup

    if config.weight_sampling == "sandwich":
        return [path(True, "largest"), path(True, "smallest"), *(path(True) for _ in range(SANDWICH_PATHS - 2))]
    return [path(config.weight_sampling == "uniform" or step < config.warmup)]


def _batch(task: Task, pool: torch.Tensor, size: int, g: torch.Generator, device) -> dict[str, torch.Tensor]:
    """This process's slice of a global batch that every process draws alike."""
    return _to(task.batch(shard(pool[torch.randint(len(pool), (size,), generator=g)], current_world())), device)


def _to(batch: dict[str, torch.Tensor], device) -> dict[str, torch.Tensor]:
    return {k: v.to(device) for k, v in batch.items()}
