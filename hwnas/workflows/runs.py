"""Training runs: an encoder (a task's baseline or any space's architecture) trained from scratch into a run
directory, then evaluated and exported from it."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hwnas.core.errors import HwnasError
from hwnas.core.files import check_writable, write_json
from hwnas.core.userfiles import validate
from hwnas.space import get_preset
from hwnas.space.architecture import Architecture
from hwnas.tasks.registry import baseline_task, build_task, create_task, task_class
from hwnas.train import distributed
from hwnas.train.checkpoint import load_checkpoint
from hwnas.train.objective import Task, TaskRequest
from hwnas.train.rundir import bind_config, defaults_of, read_json, with_task_settings
from hwnas.train.trainer import CHECKPOINT, TrainConfig, fit

RUN_CONFIG = "config.json"
METRICS = "metrics.json"


@dataclass(frozen=True)
class TrainRun:
    """A run's ``config.json``: what is trained, on which data, how long; the task's settings (its options
    among them) are written beside these keys."""

    encoder: str  # a task's baseline by name or the absolute path of an architecture .json
    preset: str
    steps: int
    batch: int
    lr: float = 2e-3
    seed: int = 0
    checkpoint_every: int = 100
    data: str = "synthetic"
    init_seed: int | None = None  # of the initial weights and the batch order; None: ``seed``

    @property
    def trainer_seed(self) -> int:
        return self.seed if self.init_seed is None else self.init_seed

    @property
    def train_config(self) -> TrainConfig:
        return TrainConfig(self.steps, self.batch, self.lr, self.trainer_seed, self.checkpoint_every)


def build_model(
    encoder: str,
    preset: str,
    seed: int,
    task_options: dict[str, Any],
    data: str,
    init_seed: int | None = None,
) -> tuple[Task, nn.Module, str]:
    """The task, the untrained network and the space of an encoder name or architecture file; the initial
    weights are drawn from ``init_seed`` (default ``seed``), not from whatever the process drew before."""
    torch.manual_seed(seed if init_seed is None else init_seed)
    request = TaskRequest(preset, seed, None if data == "synthetic" else Path(data), options=task_options)
    if encoder.endswith(".json"):
        arch = Architecture.load(Path(encoder))
        if arch.preset != preset:
            raise HwnasError(f"architecture {encoder} is for preset {arch.preset!r}; pass --preset {arch.preset}")
        space = get_preset(arch.space, arch.preset)
        task = build_task(space, request)
        return task, task.network(arch, space), space.space
    cls = baseline_task(encoder)
    task = create_task(cls, request)
    return task, task.baseline(encoder), cls.name


def default_run_dir(encoder: str, preset: str, task_options: dict[str, Any], space: str) -> Path:
    """Distinct per space, preset, encoder and architecture (its content hash), and the task options given."""
    name = encoder
    if encoder.endswith(".json"):
        digest = hashlib.sha256(Path(encoder).read_bytes()).hexdigest()[:8]
        name = f"{Path(encoder).stem}-{digest}"
    tag = "".join(f"-{k}={v}" for k, v in sorted(task_options.items()))
    return Path("runs") / f"train-{space}-{preset}-{name}{tag}"


def train_run(
    encoder: str,
    preset: str,
    steps: int | None = None,
    seed: int = 0,
    task_options: dict[str, Any] | None = None,
    data: Path | None = None,
    run_dir: Path | None = None,
    progress: bool = True,
    torch_device: str = "cpu",
    init_seed: int | None = None,
    stop_after: int | None = None,
) -> tuple[Path, dict]:
    """Train into ``run_dir`` (resuming what it holds; pausing at step ``stop_after``, checkpointed there);
    under torchrun data-parallel, rank 0 writing. ``init_seed`` varies the initial weights and batch order on the
    same data (``seed``), to measure how much a score owes to training alone."""
    if data is not None and not Path(data).is_file():
        raise HwnasError(f"data file {data} does not exist")
    if run_dir is not None:
        check_writable(run_dir, "--run-dir")
    if encoder.endswith(".json"):
        encoder = str(Path(encoder).resolve())  # a resumed run must find it from any directory
    data_name = str(Path(data).resolve()) if data else "synthetic"
    task_options = task_options or {}
    task, net, space = build_model(encoder, preset, seed, task_options, data_name, init_seed)
    steps = steps or task.train_steps
    run = TrainRun(
        encoder, preset, steps, task.batch_size, task.learning_rate, seed, data=data_name, init_seed=init_seed
    )
    config = with_task_settings(asdict(run), task.settings(), task.name)
    run_dir = run_dir or default_run_dir(encoder, preset, task_options, space)
    world, torch_device = distributed.join(torch_device)
    try:
        distributed.check_divides(run.batch, world)
        before = {**defaults_of(TrainRun), **task.settings_before()}
        distributed.on_main(lambda: bind_config(run_dir, config, RUN_CONFIG, before))
        result = fit(net, task, run.train_config, run_dir, progress=progress, torch_device=torch_device,
                     stop_after=stop_after, label=f"train {Path(encoder).stem}")  # fmt: skip
    finally:
        distributed.leave()
    return run_dir, result


def read_run(run_dir: Path) -> TrainRun:
    path = Path(run_dir) / RUN_CONFIG
    if not path.is_file():
        raise HwnasError(f"{run_dir} is not a training run (no {RUN_CONFIG}); train one with `hwnas train`")
    raw = read_json(path)
    known = {f.name for f in fields(TrainRun)}
    fix = "delete the folder to train that run again"
    return validate(TrainRun, {k: v for k, v in raw.items() if k in known}, f"run config {path}", fix)


def read_task_options(run_dir: Path, run: TrainRun) -> dict[str, Any]:
    """The options of the run's task as its config records them (beside the run's own keys)."""
    raw = read_json(Path(run_dir) / RUN_CONFIG)
    names = {f.name for f in dataclasses.fields(_task_class_of(run.encoder, run.preset).Options)}
    return {k: v for k, v in raw.items() if k in names}


def load_trained(run_dir: Path) -> tuple[TrainRun, Task, nn.Module, int]:
    """The run's config, task, network with its checkpoint's weights, and the step it reached."""
    run = read_run(run_dir)
    ckpt = Path(run_dir) / CHECKPOINT
    if not ckpt.is_file():
        raise HwnasError(f"{run_dir} has no checkpoint yet; run `hwnas train` first")
    options = read_task_options(run_dir, run)
    task, net, _ = build_model(run.encoder, run.preset, run.seed, options, run.data, run.init_seed)
    state = load_checkpoint(ckpt, ("model", "step"))
    net.load_state_dict(state["model"])
    return run, task, net.eval(), state["step"]


def evaluate_run(run_dir: Path) -> tuple[dict[str, Any], list[str]]:
    """The task's held-out metrics of a trained run (also written to ``metrics.json``) and its summary lines."""
    run, task, net, step = load_trained(run_dir)
    metrics = {"encoder": run.encoder, "preset": run.preset, "task": task.settings(), "steps": step}
    metrics.update(task.evaluate(net))
    write_json(Path(run_dir) / METRICS, metrics)
    head = f"{metrics['encoder']} ({run.preset}, {step} steps)"
    if "mflops" in metrics:
        head += f": {metrics['mflops']:.2f} MFLOPs, {metrics['params']} params"
    return metrics, [head, *task.summary(metrics)]


def _task_class_of(encoder: str, preset: str) -> type[Task]:
    """The task class that trains ``encoder`` (a baseline's name, or an architecture file of its space)."""
    if encoder.endswith(".json"):
        space = get_preset(Architecture.load(Path(encoder)).space, preset)
        return task_class(space.task, space.space)
    return baseline_task(encoder)


def architecture_network(arch_path: Path) -> nn.Module:
    """The network of an architecture with random weights (enough to measure its latency), outputs named as
    its space's task reads them."""
    arch = Architecture.load(arch_path)
    space = get_preset(arch.space, arch.preset)
    return task_class(space.task, space.space).deployed_network(arch, space)
