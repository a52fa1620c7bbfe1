"""The differentiable search loop: alternate weight steps and architecture steps on separate data splits."""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from hwnas.architecture import Architecture
from hwnas.avatar.train import load_checkpoint, save_checkpoint
from hwnas.errors import HwnasError
from hwnas.lut.table import LatencyTable
from hwnas.rundir import bind_config
from hwnas.search.derive import fit_to_target
from hwnas.search.supernet import LatencyModel, Supernet
from hwnas.search.task import SearchTask
from hwnas.searchspaces.declarative import SpacePreset

LATENCY_LOSSES = ("log", "hinge")
OP_SAMPLING = ("hard", "soft")


@dataclass(frozen=True)
class SearchConfig:
    target_ms: float
    steps: int = 300
    warmup: int = 60  # weight-only steps before architecture steps begin
    batch: int = 32
    latency_loss: str = "log"
    latency_weight: float = 1.0
    tau_start: float = 5.0
    tau_end: float = 0.5
    hold: int = 10  # iterations a sampled resolution is held (K)
    lr_weights: float = 2e-3
    lr_arch: float = 5e-2
    seed: int = 0
    ee_loss: bool = True
    render_size: int = 32
    op_sampling: str = "hard"  # "soft": Gumbel-weighted sum of all candidate ops; "hard": one sampled op (GDAS)
    checkpoint_every: int = 25


def latency_loss(latency: torch.Tensor, target: float, form: str) -> torch.Tensor:
    """``log``: |log(lat / target)|, pulls towards the target from both sides (a multiplicative error);
    ``hinge``: max(0, lat / target - 1), only penalises going over."""
    if form == "log":
        return torch.log(latency / target).abs()
    if form == "hinge":
        return torch.relu(latency / target - 1)
    raise HwnasError(f"unknown latency loss {form!r}; choose from {', '.join(LATENCY_LOSSES)}")


def temperature(step: int, config: SearchConfig) -> float:
    """Exponential annealing from tau_start to tau_end over the search."""
    frac = min(step / max(config.steps - 1, 1), 1.0)
    return config.tau_start * (config.tau_end / config.tau_start) ** frac


@dataclass
class SearchResult:
    architecture: Architecture
    predicted_ms: float
    history: list[dict[str, float]]
    wall_s: float
    argmax_predicted_ms: float | None = None  # the plain argmax architecture, before fit_to_target


SEARCH_CHECKPOINT = "search.pt"


def split_pool(task: SearchTask, seed: int, share: float = 0.8) -> tuple[torch.Tensor, torch.Tensor, torch.Generator]:
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
    task: SearchTask,
    config: SearchConfig,
    progress: bool = True,
    torch_device: str = "cpu",
    run_dir: Path | None = None,
) -> SearchResult:
    """Run the search; with ``run_dir`` it checkpoints every ``config.checkpoint_every`` steps and resumes
    from there (weights, architecture parameters, optimisers, policies and random states), so a killed
    search continues exactly where an unbroken one would be."""
    if config.latency_loss not in LATENCY_LOSSES:
        raise HwnasError(f"unknown latency loss {config.latency_loss!r}; choose from {', '.join(LATENCY_LOSSES)}")
    if config.op_sampling not in OP_SAMPLING:
        raise HwnasError(f"unknown op sampling {config.op_sampling!r}; choose from {', '.join(OP_SAMPLING)}")
    torch.manual_seed(config.seed)
    device = torch.device(torch_device)
    net = Supernet(preset, hold=config.hold).to(device)
    net.hard = config.op_sampling == "hard"
    latency = LatencyModel(preset, table)
    task = task.to(device)
    w_opt = torch.optim.AdamW(net.weight_parameters(), lr=config.lr_weights, weight_decay=1e-4)
    a_opt = torch.optim.Adam(
        [*net.arch_parameters(), *(p.theta for p in net.policies.values())], lr=config.lr_arch, betas=(0.5, 0.999)
    )
    weight_split, arch_split, g = split_pool(task, config.seed)  # separate splits for weights and architecture
    history: list[dict[str, float]] = []
    for policy in net.policies.values():
        policy.sample()
    first, spent = 0, 0.0
    ckpt = run_dir / SEARCH_CHECKPOINT if run_dir is not None else None
    if run_dir is not None:
        bind_config(run_dir, asdict(config), "search-config.json")
        if ckpt.exists():
            state = load_checkpoint(ckpt)
            net.load_state_dict(state["net"])
            task.load_state_dict(state["task"])
            w_opt.load_state_dict(state["w_opt"])
            a_opt.load_state_dict(state["a_opt"])
            for v, (current, rewards) in state["policies"].items():
                net.policies[v].current, net.policies[v].rewards = current, list(rewards)
            torch.set_rng_state(state["torch_rng"])
            if device.type == "cuda" and "cuda_rng" in state:
                torch.cuda.set_rng_state(state["cuda_rng"], device)
            g.set_state(state["data_rng"])
            first, history, spent = state["step"], state["history"], state["wall_s"]
    start = time.perf_counter()
    bar = tqdm(total=config.steps, initial=first, desc="search", unit="step", disable=not progress)
    for step in range(first, config.steps):
        net.tau = temperature(step, config)
        # weight step on the weight split
        batch = _batch(task, weight_split, config.batch, g, device)
        loss = task.loss(net(batch["views"]), batch, step)
        w_opt.zero_grad(set_to_none=True)
        loss.backward()
        w_opt.step()
        record = {"step": step, "tau": net.tau, "weight_loss": loss.item()}
        if step >= config.warmup:
            batch = _batch(task, arch_split, config.batch, g, device)
            task_loss = task.loss(net(batch["views"]), batch, step)
            lat = latency(list(net.branches), net.resolutions())
            lat_loss = latency_loss(lat, config.target_ms, config.latency_loss)
            objective = task_loss + config.latency_weight * lat_loss
            surrogate = sum(s for s in (p.observe(-objective.item()) for p in net.policies.values()) if s is not None)
            a_opt.zero_grad(set_to_none=True)
            (objective + surrogate).backward()
            a_opt.step()
            if not isinstance(surrogate, int):  # a held resolution finished its K iterations: sample anew
                for policy in net.policies.values():
                    policy.sample()
            record.update(arch_loss=task_loss.item(), latency_ms=lat.item(), latency_loss=lat_loss.item())
            bar.set_postfix(lat=f"{lat.item():.3f}ms", loss=f"{task_loss.item():.4f}", refresh=False)
        history.append(record)
        bar.update(1)
        done = step + 1
        if ckpt is not None and (done % config.checkpoint_every == 0 or done == config.steps):
            save_checkpoint(
                ckpt,
                {
                    "net": net.state_dict(),
                    "task": task.state_dict(),
                    "w_opt": w_opt.state_dict(),
                    "a_opt": a_opt.state_dict(),
                    "policies": {v: (p.current, p.rewards) for v, p in net.policies.items()},
                    "torch_rng": torch.get_rng_state(),
                    **({"cuda_rng": torch.cuda.get_rng_state(device)} if device.type == "cuda" else {}),
                    "data_rng": g.get_state(),
                    "step": done,
                    "history": history,
                    "wall_s": spent + time.perf_counter() - start,
                },
            )
    bar.close()
    argmax_ms = table.predict_ms(net.derive().op_specs(preset))
    arch = fit_to_target(net, table, config.target_ms)
    predicted = table.predict_ms(arch.op_specs(preset))
    return SearchResult(arch, predicted, history, spent + time.perf_counter() - start, argmax_ms)


def _batch(task: SearchTask, pool: torch.Tensor, size: int, g: torch.Generator, device) -> dict[str, torch.Tensor]:
    idx = pool[torch.randint(len(pool), (size,), generator=g)]
    return {k: v.to(device) for k, v in task.batch(idx).items()}


def write_report(
    result: SearchResult,
    preset: SpacePreset,
    config: SearchConfig,
    out_dir: Path,
    table_path: Path,
    latency_check: dict[str, float | int] | None = None,
) -> Path:
    """arch.json, report.json (with the end-to-end latency check when given) and search_curves.png."""
    from hwnas.plots import search_curves

    out_dir.mkdir(parents=True, exist_ok=True)
    result.architecture.save(out_dir / "arch.json")
    report = {
        "target_ms": config.target_ms,
        "predicted_ms": result.predicted_ms,
        "argmax_predicted_ms": result.argmax_predicted_ms,
        "measured": latency_check,
        "mflops": result.architecture.flops(preset) / 1e6,
        "resolutions": result.architecture.resolutions,
        "branches": {
            f"{b.view}.{b.branch}": [f"{c.op}@{c.width}" for c in b.layers] for b in result.architecture.branches
        },
        "table": str(table_path),
        "config": asdict(config),
        "wall_s": result.wall_s,
        "history": result.history,
    }
    (out_dir / "report.json").write_text(json.dumps(report, indent=2, default=_finite))
    if result.history:
        search_curves(result.history, config.target_ms, out_dir / "search_curves.png")
    return out_dir / "arch.json"


def _finite(x: object) -> object:
    return None if isinstance(x, float) and not math.isfinite(x) else str(x)
