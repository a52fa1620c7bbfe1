"""The Python API: each ``hwnas`` command as a function taking plain arguments and returning a value object, the
plugin contracts, and the value objects that pass between the stages. What ``__all__`` lists is the stable
surface (docs/api.md); import from here rather than from the modules behind it, which may move.

    from hwnas import api

    table = api.build_lut("cpu", "mobile", "tiny")           # profiles what the store lacks first
    found = api.search("mobile", "cpu", speedup=2, preset="tiny", steps=30)
    run = api.train(found.arch_path, preset="tiny", steps=50)
    print(api.evaluate(run.run_dir))                          # the task's held-out metrics
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hwnas.core.errors import BackendUnavailable, HwnasError
from hwnas.core.measurement import Measurement
from hwnas.lut.table import LatencyTable
from hwnas.measure.backends.base import Backend
from hwnas.measure.devices import DevicePreset, ProfileSettings
from hwnas.measure.profiler import ProfileReport
from hwnas.ops import OpSpec, OpType, register
from hwnas.search.target import LatencyTarget
from hwnas.space.architecture import Architecture
from hwnas.space.declared import DeclaredSpace, SpacePreset
from hwnas.space.registry import SearchSpace, get_preset, get_space
from hwnas.tasks.classification import ClassificationOptions, ImageClassificationTask, LabelledImages
from hwnas.train.objective import Task, TaskRequest
from hwnas.workflows.exports import Export
from hwnas.workflows.searches import SearchOutcome

__all__ = [
    "Architecture",
    "Backend",
    "BackendUnavailable",
    "ClassificationOptions",
    "DeclaredSpace",
    "DevicePreset",
    "Export",
    "HwnasError",
    "ImageClassificationTask",
    "LabelledImages",
    "LatencyTable",
    "LatencyTarget",
    "Measurement",
    "OpSpec",
    "OpType",
    "ProfileReport",
    "ProfileSettings",
    "SearchOutcome",
    "SearchSpace",
    "SpacePreset",
    "Task",
    "TaskRequest",
    "TrainedRun",
    "build_lut",
    "evaluate",
    "export",
    "get_preset",
    "get_space",
    "measure",
    "profile",
    "register",
    "search",
    "train",
]

PathLike = str | os.PathLike


@dataclass(frozen=True)
class TrainedRun:
    """A training run's folder and how the training went."""

    run_dir: Path
    steps: int
    final_loss: float
    wall_s: float


def _device(device: str, options: dict[str, Any] | None, devices_file: PathLike | None):
    from hwnas.workflows.tables import open_device

    return open_device(device, devices_file, options)


def profile(
    device: str,
    space: str,
    preset: str = "small",
    *,
    workdir: PathLike = ".hwnas",
    options: dict[str, Any] | None = None,
    devices_file: PathLike | None = None,
    retry_failed: bool = False,
    progress: bool = False,
) -> ProfileReport:
    """``hwnas profile``: measure every op of the space's preset that the store in ``workdir`` lacks. ``options``
    are the device's backend options (``{"host": "192.168.1.20:5555", "binary": ...}`` for an adb device)."""
    from hwnas.workflows.tables import profile_space

    dev, backend = _device(device, options, devices_file)
    return profile_space(dev, backend, get_preset(space, preset), Path(workdir), progress, retry_failed)


def build_lut(
    device: str,
    space: str,
    preset: str = "small",
    *,
    workdir: PathLike = ".hwnas",
    lut_dir: PathLike = "lut",
    out: PathLike | None = None,
    options: dict[str, Any] | None = None,
    devices_file: PathLike | None = None,
    progress: bool = False,
) -> LatencyTable:
    """``hwnas profile`` then ``hwnas build-lut``: the device's table of the preset, written to ``out`` (default
    ``<lut_dir>/<device>/<space>-<preset>.csv``); only what the store lacks is measured."""
    from hwnas.workflows import tables

    dev, backend = _device(device, options, devices_file)
    space_preset = get_preset(space, preset)
    tables.profile_space(dev, backend, space_preset, Path(workdir), progress)
    table, _ = tables.build_lut(dev, backend, space_preset, Path(workdir), Path(lut_dir), out and Path(out))
    return table


def measure(
    device: str, model: PathLike, *, options: dict[str, Any] | None = None, devices_file: PathLike | None = None
) -> Measurement:
    """``hwnas profile --model``: one whole model file measured as the device measures an op."""
    from hwnas.measure.profiler import profile_model

    dev, backend = _device(device, options, devices_file)
    return profile_model(backend, dev, Path(model))


def search(
    space: str,
    device: str,
    *,
    target_ms: float | None = None,
    speedup: float | None = None,
    preset: str = "small",
    method: str = "differentiable",
    steps: int | None = None,
    seed: int = 0,
    task_options: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
    out: PathLike | None = None,
    lut_dir: PathLike = "lut",
    workdir: PathLike = ".hwnas",
    options: dict[str, Any] | None = None,
    devices_file: PathLike | None = None,
    progress: bool = False,
) -> SearchOutcome:
    """``hwnas search``: give ``target_ms`` or ``speedup``; ``settings`` are the search's (``latency_weight``,
    ``arch_loss``, ...: the fields of ``hwnas.search.config.SearchConfig``), ``task_options`` the task's own."""
    from hwnas.workflows.searches import SearchRequest, run_search

    request = SearchRequest(
        space, device, LatencyTarget(target_ms, speedup), preset, method, steps, seed, dict(task_options or {}),
        dict(settings or {}), devices_file and Path(devices_file), out and Path(out), Path(lut_dir), Path(workdir),
        progress=progress, device_overrides=dict(options or {}),
    )  # fmt: skip
    return run_search(request)


def train(
    arch: PathLike,
    preset: str = "small",
    *,
    steps: int | None = None,
    seed: int = 0,
    task_options: dict[str, Any] | None = None,
    data: PathLike | None = None,
    run_dir: PathLike | None = None,
    progress: bool = False,
) -> TrainedRun:
    """``hwnas train``: an architecture file (or a task's baseline by name) trained from scratch;
    resumes what ``run_dir`` holds."""
    from hwnas.workflows.runs import train_run

    folder, result = train_run(str(arch), preset, steps, seed, dict(task_options or {}), data and Path(data),
                               run_dir and Path(run_dir), progress)  # fmt: skip
    return TrainedRun(Path(folder), result["steps"], result["final_loss"], result["wall_s"])


def evaluate(run_dir: PathLike) -> dict[str, Any]:
    """``hwnas evaluate``: the task's held-out metrics of a trained run (also written to its metrics.json)."""
    from hwnas.workflows.runs import evaluate_run

    return evaluate_run(Path(run_dir))[0]


def export(
    run_dir: PathLike | None = None,
    arch: PathLike | None = None,
    fmt: str = "onnx",
    precision: str = "float32",
    out: PathLike | None = None,
) -> Export:
    """``hwnas export``: a trained run's network, or an architecture file's with random weights, as ONNX or
    TFLite (the ``tflite`` extra)."""
    from hwnas.workflows.exports import export_network

    return export_network(run_dir and Path(run_dir), arch and Path(arch), fmt, precision, out and Path(out))
