"""A search from the user's request to its report: table -> task -> search -> export -> end-to-end check."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hwnas.core.errors import HwnasError
from hwnas.core.files import check_writable
from hwnas.core.jobs import IN_PROCESS, JobOptions
from hwnas.deploy.endtoend import check_at_host_speed, measure_encoder
from hwnas.lut.table import LatencyTable
from hwnas.measure.backends.base import Backend
from hwnas.measure.devices import DevicePreset
from hwnas.search.config import METHODS, SearchConfig, supernet_steps
from hwnas.search.extremes import extreme_architecture, latency_range
from hwnas.search.loop import SEARCH_CHECKPOINT, SEARCH_CONFIG, arch_score, bind_search_config, search
from hwnas.search.random_search import random_search
from hwnas.search.report import REPORT, write_report
from hwnas.search.supernet import Sampling, Supernet
from hwnas.search.target import LatencyTarget
from hwnas.space import get_preset
from hwnas.space.architecture import Architecture
from hwnas.space.declared import SpacePreset
from hwnas.space.network import ArchitectureNetwork
from hwnas.tasks.registry import build_task, task_class
from hwnas.train import distributed
from hwnas.train.checkpoint import load_checkpoint
from hwnas.train.objective import Task, TaskRequest
from hwnas.train.rundir import read_json
from hwnas.workflows.tables import ensure_table, open_device

REACH_TOLERANCE = 0.03  # the fit to the target is within 3%: a target that close to either end is reachable


@dataclass(frozen=True)
class SearchRequest:
    """Everything ``hwnas search`` takes; ``settings`` are SearchConfig fields (latency loss, weight, ...),
    ``task_options`` the task's own (``--task-option``)."""

    space: str
    device: str
    target: LatencyTarget  # milliseconds, or a speed-up over the space's reference network
    preset: str = "small"
    method: str = "differentiable"
    steps: int | None = None  # default: the task's
    seed: int = 0
    task_options: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    devices_file: Path | None = None
    out_dir: Path | None = None
    lut_dir: Path = Path("lut")
    workdir: Path = Path(".hwnas")
    torch_device: str = "cpu"
    progress: bool = True
    device_overrides: dict[str, Any] = field(default_factory=dict)  # backend options (--host, --option ...)
    jobs: JobOptions = IN_PROCESS  # where random search trains its candidates

    @property
    def space_name(self) -> str:
        return Path(self.space).stem if self.space.endswith(".toml") else self.space


@dataclass(frozen=True)
class SearchOutcome:
    out_dir: Path
    architecture: Architecture
    report: dict[str, Any]
    reused: bool  # the folder held a finished search: nothing was searched or measured again

    @property
    def arch_path(self) -> Path:
        return self.out_dir / "arch.json"


def parse_setting(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` of a SearchConfig field, the value read as JSON where it is (``latency_weight=0.5``)."""
    key, _, value = text.partition("=")
    names = {f.name for f in fields(SearchConfig)} - {"target"}  # the target is --target-ms / --speedup
    if not value or key not in names:
        raise HwnasError(f"setting {text!r}: write KEY=VALUE with KEY one of {', '.join(sorted(names))}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def settings_tag(settings: dict[str, Any]) -> str:
    """``-key=value`` per setting, sorted: how a benchmark names the results of non-default settings."""
    return "".join(f"-{k}={v}" for k, v in sorted(settings.items()))


def default_search_dir(request: SearchRequest) -> Path:
    """Distinct per space, method, device, preset, target and the task options given."""
    name = f"search-{request.space_name}-{request.method}-{request.device}-{request.preset}-{request.target.tag}"
    return Path("runs") / (name + settings_tag(request.task_options))


def search_config(task: Task, target: LatencyTarget, steps: int | None = None, **settings: Any) -> SearchConfig:
    """The task's batch, weight learning rate and default steps, and the search ``settings``; architecture steps
    start after the first fifth of the supernet's steps. (The task's own settings are bound beside the config,
    not part of it.)"""
    steps = steps or task.search_steps
    warmup = max(1, supernet_steps(steps, settings.get("resolution_choice", SearchConfig.resolution_choice)) // 5)
    return SearchConfig(target, steps, warmup, task.batch_size, **{"lr_weights": task.learning_rate, **settings})


def request_config(request: SearchRequest, task: Task, target: LatencyTarget) -> SearchConfig:
    """The request's search config. Its seed draws the data and the search alike; a ``seed`` setting draws the
    search apart from the data (another search of the same task)."""
    return search_config(task, target, request.steps, **{"seed": request.seed, **request.settings})


def search_task(space: SpacePreset, seed: int, task_options: dict[str, Any] | None = None) -> Task:
    return build_task(space, TaskRequest(space.preset, seed, for_search=True, options=task_options or {}))


def run_search(request: SearchRequest) -> SearchOutcome:
    """Under torchrun the processes search data-parallel; rank 0 alone builds the table, measures on the device
    and writes the results, and every rank returns the same outcome."""
    if request.method not in METHODS:
        raise HwnasError(f"unknown search method {request.method!r}; choose from {', '.join(METHODS)}")
    request.jobs.check()
    if request.jobs.ray and request.method != "random":
        raise HwnasError(
            "--ray trains the candidates of --method random at once; a differentiable search trains one network: "
            "run it data-parallel under torchrun instead"
        )
    world, torch_device = distributed.join(request.torch_device)
    try:
        if world.parallel and request.method == "random":
            raise HwnasError(
                "random search trains independent candidates, not one network: run it in one process, with --ray "
                "to train its candidates at once as Ray tasks"
            )
        space = get_preset(request.space, request.preset)
        device, backend = open_device(request.device, request.devices_file, request.device_overrides)
        task = search_task(space, request.seed, request.task_options)
        distributed.check_divides(task.batch_size, world)
        out_dir = request.out_dir or default_search_dir(request)
        plan = distributed.on_main(lambda: _plan(request, space, device, backend, task, out_dir))
        if isinstance(plan, SearchOutcome):
            return plan
        config = request_config(request, task, plan.target)
        if request.method == "random":
            result = random_search(space, plan.table, task, config, run_dir=out_dir, binding=plan.binding,
                                   torch_device=torch_device, progress=request.progress,
                                   jobs=request.jobs)  # fmt: skip
        else:
            result = search(space, plan.table, task, config, request.progress, torch_device, run_dir=out_dir,
                            binding=plan.binding)  # fmt: skip

        def finish() -> dict[str, Any]:
            # beside the table's calibration networks: the report tells the table's error from the host's drift
            check = check_at_host_speed([result.architecture], space, plan.table, device, backend, request.workdir)[0]
            context = {"device": device.name, "backend": backend.name, "task": task.settings()}
            write_report(result, space, config, out_dir, plan.table_path, request.method, check.as_dict(), context)
            return read_json(out_dir / REPORT)

        return SearchOutcome(out_dir, result.architecture, distributed.on_main(finish), False)
    finally:
        distributed.leave()


@dataclass(frozen=True)
class _Plan:
    """What a search needs from the device before it starts: the table, the resolved target and the folder's
    binding."""

    table: LatencyTable
    table_path: Path
    target: LatencyTarget
    binding: dict[str, Any]


def _plan(
    request: SearchRequest, space: SpacePreset, device: DevicePreset, backend: Backend, task: Task, out_dir: Path
) -> _Plan | SearchOutcome:
    """Check what the end of the search needs, build the table, fix the target; or the finished search the
    folder already holds."""
    check_writable(out_dir, "--out")  # the device measures the result, the folder takes it
    backend.check()
    binding = {"space": space.space, "preset": space.preset, "device": device.name, "method": request.method}
    bound = out_dir / SEARCH_CONFIG
    previous = read_json(bound) if bound.is_file() else {}
    target = request.target
    if target.speedup and previous.get("speedup") == target.speedup and previous.get("reference"):
        target = target.resolve(previous["reference"])  # the reference measured when the folder began
    if target.resolved and previous:
        bind_search_config(out_dir, request_config(request, task, target), binding, task)
        if (out_dir / REPORT).is_file() and (out_dir / "arch.json").is_file():
            return SearchOutcome(out_dir, Architecture.load(out_dir / "arch.json"), read_json(out_dir / REPORT), True)
    table, table_path = ensure_table(device, backend, space, request.workdir, request.lut_dir, request.progress)
    if not target.resolved:
        target = target.resolve(measure_reference(space, table, device, backend, request.workdir))
    _check_reachable(space, table, target, device.name)
    return _Plan(table, table_path, target, binding)


def measure_reference(
    space: SpacePreset, table: LatencyTable, device: DevicePreset, backend: Backend, workdir: Path
) -> dict[str, Any]:
    """The space's reference network measured end to end on the device: a baseline of its task, or
    ``largest``, the slowest architecture of the space."""
    if space.reference is None:
        raise HwnasError(
            f"space {space.space!r} declares no reference network, so --speedup has nothing to divide; use "
            '--target-ms, or add reference = "largest" (or a baseline of its task) to the space\'s TOML'
        )
    if space.reference == "largest":
        net = ArchitectureNetwork(extreme_architecture(space, table, slowest=True), space)
    else:
        cls = task_class(space.task, space.space)
        if space.reference not in cls.baselines:
            known = ", ".join(cls.baselines) or "none"
            raise HwnasError(
                f"space {space.space!r} names reference {space.reference!r}, which task {cls.name!r} does not have "
                f'(baselines: {known}; or "largest")'
            )
        net = cls.reference_network(space.reference, space.preset)
    measured = measure_encoder(net, device, backend, workdir)
    return {"name": space.reference, "measured_ms": measured.median_ms, "iqr_ms": measured.iqr_ms}


def _check_reachable(space: SpacePreset, table: LatencyTable, target: LatencyTarget, device: str) -> None:
    """Refuse a target outside the fastest-to-slowest range the table predicts for the space."""
    fastest, slowest = latency_range(space, table)
    if fastest * (1 - REACH_TOLERANCE) <= target.milliseconds <= slowest * (1 + REACH_TOLERANCE):
        return
    where = f"{space.space}/{space.preset} on {device}"
    speedups = ""
    reference = target.reference
    if reference is not None:
        ref = reference["measured_ms"]
        speedups = (
            f", i.e. --speedup {ref / slowest:.2f} to {ref / fastest:.2f} over {reference['name']} ({ref:.3f} ms)"
        )
    raise HwnasError(
        f"target {target.milliseconds:.4g} ms is outside what {where} can reach: {fastest:.4g} to {slowest:.4g} ms "
        f"as its table predicts{speedups}; pick a target in that range"
    )


def load_supernet(search_dir: Path, space: SpacePreset) -> Supernet:
    """The supernet of a search folder, ready to score sub-networks: ``soft`` mode and batch statistics (the
    running ones mix every sub-network the supernet ever ran)."""
    net = Supernet(space)
    net.load_state_dict(load_checkpoint(search_dir / SEARCH_CHECKPOINT, ("net",))["net"])
    net.sampling = Sampling(ops="soft")
    return net.train()


@torch.no_grad()
def held_out_score(
    net: nn.Module, task: Task, arch: Architecture | None = None, arch_loss: str = SearchConfig.arch_loss
) -> float:
    """The score a search compares architectures by (``arch_loss``: the task's selection score, or its training
    score) on the held-out pool, lower is better; with ``arch``, ``net`` is a supernet and the score is that of
    its sub-network ``arch`` (how a one-shot search ranks architectures)."""
    if arch is not None:
        net.select(arch)
    score = arch_score(task, arch_loss)
    scores = []
    for chunk in task.test_pool().split(256):
        batch = task.batch(chunk)
        scores.append(score(net(batch["views"]), batch))
    return sum(scores) / len(scores)


def summary(outcome: SearchOutcome) -> list[str]:
    """What ``hwnas search`` prints."""
    r, arch = outcome.report, outcome.architecture
    target = r["target_ms"]
    measured = ""
    if r.get("measured"):
        ms = r["measured"]["measured_ms"]
        measured = f", measured end to end {ms:.3f} ms ({ms / target - 1:+.1%} off the target)"
        factor = r["measured"].get("host_factor", 1.0)
        if factor != 1.0:
            at_host = r["predicted_ms"] * factor
            measured += (
                f"; the table's calibration networks, measured beside it, took {factor:.2f}x their profile time: "
                f"at the host's speed of the moment the table predicts {at_host:.3f} ms ({at_host / ms - 1:+.1%} off)"
            )
    lines = []
    if r.get("speedup") and r.get("reference"):
        ref = r["reference"]
        lines.append(
            f"target {target:.4g} ms = {ref['name']} measured at {ref['measured_ms']:.4g} ms / {r['speedup']:g}"
        )
    if outcome.reused:
        lines.append(f"search already complete in {outcome.out_dir}; reused its arch.json and report.json")
    lines.append(
        f"target {target:.4g} ms, predicted {r['predicted_ms']:.3f} ms{measured}, {r['mflops']:.2f} MFLOPs, "
        f"search {r['wall_s']:.0f} s"
    )
    lines.append("resolutions: " + ", ".join(f"{v} {res}" for v, res in arch.resolutions.items()))
    lines += [f"  {b.view}.{b.branch}: " + " ".join(f"{c.op}@{c.width}" for c in b.layers) for b in arch.branches]
    return lines
