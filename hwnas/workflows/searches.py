"""A search from the user's request to its report: table -> task -> search -> export -> end-to-end check."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hwnas.core.errors import HwnasError
from hwnas.deploy.endtoend import check_architecture
from hwnas.lut.table import LatencyTable
from hwnas.search.config import METHODS, SearchConfig
from hwnas.search.loop import SEARCH_CONFIG, search
from hwnas.search.random_search import random_search
from hwnas.search.report import REPORT, write_report
from hwnas.space import get_preset
from hwnas.space.architecture import Architecture
from hwnas.space.declared import SpacePreset
from hwnas.tasks.registry import build_task
from hwnas.train.objective import Task, TaskRequest
from hwnas.train.rundir import bind_config, read_json
from hwnas.workflows.tables import ensure_table, open_device


@dataclass(frozen=True)
class SearchRequest:
    """Everything ``hwnas search`` takes; ``settings`` are SearchConfig fields (latency loss, weight, ...)."""

    space: str
    device: str
    target_ms: float
    preset: str = "small"
    method: str = "differentiable"
    steps: int | None = None  # default: the task's
    seed: int = 0
    ee_loss: bool = True
    settings: dict[str, Any] = field(default_factory=dict)
    devices_file: Path | None = None
    out_dir: Path | None = None
    lut_dir: Path = Path("lut")
    workdir: Path = Path(".hwnas")
    torch_device: str = "cpu"
    progress: bool = True

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


def default_search_dir(request: SearchRequest) -> Path:
    """Distinct per space, method, device, preset, target and the Eq. 3 switch."""
    ee = "" if request.ee_loss else "-no-ee"
    return Path("runs") / (
        f"search-{request.space_name}-{request.method}-{request.device}-{request.preset}-{request.target_ms:g}ms{ee}"
    )


def search_config(task: Task, target_ms: float, steps: int | None = None, **settings: Any) -> SearchConfig:
    """The task's batch, default steps and settings; architecture steps start after the first fifth."""
    steps = steps or task.search_steps
    warmup = max(1, steps // 5)
    return SearchConfig(target_ms, steps, warmup, task.batch_size, **task.settings(), **settings)


def search_task(space: SpacePreset, seed: int, ee_loss: bool = True) -> Task:
    return build_task(space, TaskRequest(space.preset, seed, ee_loss, for_search=True))


def run_search(request: SearchRequest) -> SearchOutcome:
    if request.method not in METHODS:
        raise HwnasError(f"unknown search method {request.method!r}; choose from {', '.join(METHODS)}")
    space = get_preset(request.space, request.preset)
    device, backend = open_device(request.device, request.devices_file)
    task = search_task(space, request.seed, request.ee_loss)
    config = search_config(task, request.target_ms, request.steps, seed=request.seed, **request.settings)
    out_dir = request.out_dir or default_search_dir(request)
    binding = {"space": space.space, "preset": space.preset, "device": device.name, "method": request.method}
    out_dir.mkdir(parents=True, exist_ok=True)
    bind_config(out_dir, {**binding, **asdict(config)}, SEARCH_CONFIG)
    if (out_dir / REPORT).is_file() and (out_dir / "arch.json").is_file():
        return SearchOutcome(out_dir, Architecture.load(out_dir / "arch.json"), read_json(out_dir / REPORT), True)
    table, table_path = ensure_table(device, backend, space, request.workdir, request.lut_dir, request.progress)
    _check_table_belongs(table, device.name, space)
    if request.method == "random":
        result = random_search(
            space, table, task, config, run_dir=out_dir, binding=binding, torch_device=request.torch_device
        )
    else:
        result = search(
            space, table, task, config, request.progress, request.torch_device, run_dir=out_dir, binding=binding
        )
    check = None
    if backend.artifact_format == "onnx":
        check = check_architecture(result.architecture, space, table, device, backend, request.workdir)
    write_report(result, space, config, out_dir, table_path, request.method, check.as_dict() if check else None)
    report = read_json(out_dir / REPORT)
    return SearchOutcome(out_dir, result.architecture, report, False)


def _check_table_belongs(table: LatencyTable, device: str, space: SpacePreset) -> None:
    m = table.metadata
    for key, want in (("device", device), ("space", space.space), ("preset", space.preset)):
        if key in m and m[key] != want:
            raise HwnasError(f"latency table says {key} {m[key]!r}, not {want!r}; rebuild it with `hwnas build-lut`")


def summary(outcome: SearchOutcome) -> list[str]:
    """What ``hwnas search`` prints."""
    r, arch = outcome.report, outcome.architecture
    target = r["target_ms"]
    measured = ""
    if r.get("measured"):
        ms = r["measured"]["measured_ms"]
        measured = f", measured end to end {ms:.3f} ms ({ms / target - 1:+.1%} off the target)"
    lines = []
    if outcome.reused:
        lines.append(f"search already complete in {outcome.out_dir}; reused its arch.json and report.json")
    lines.append(
        f"target {target:g} ms, predicted {r['predicted_ms']:.3f} ms{measured}, {r['mflops']:.2f} MFLOPs, "
        f"search {r['wall_s']:.0f} s"
    )
    lines.append("resolutions: " + ", ".join(f"{v} {res}" for v, res in arch.resolutions.items()))
    lines += [f"  {b.view}.{b.branch}: " + " ".join(f"{c.op}@{c.width}" for c in b.layers) for b in arch.branches]
    return lines
