"""Measure a whole network end to end on a device, beside the latency table's prediction for it."""

from __future__ import annotations

import hashlib
import json
import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from hwnas.core.errors import HwnasError
from hwnas.core.measurement import Measurement
from hwnas.deploy.export import EXPORT_FORMATS, export_encoder
from hwnas.lut.network_calibration import calibration_networks
from hwnas.lut.table import LatencyTable
from hwnas.measure.artifacts import ArtifactCache, toolchain
from hwnas.measure.backends.base import Backend
from hwnas.measure.devices import DevicePreset
from hwnas.measure.worker import measure_in_fresh_process, measure_many_in_fresh_process
from hwnas.space.architecture import Architecture
from hwnas.space.declared import SpacePreset
from hwnas.space.network import ArchitectureNetwork


def measure_encoder(net: nn.Module, device: DevicePreset, backend: Backend, workdir: Path) -> Measurement:
    """Export into ``<workdir>/models`` (cached by structure) and measure end to end with the device's backend
    and profile settings — as many rounds as its ops were measured in, pooled — each in a fresh process: right
    after training, torch's spinning worker threads would slow an in-process measurement by half. Weights do not
    matter for latency."""
    backend.check()
    path = exported_encoder(net, backend, workdir)
    measured = measure_in_fresh_process(backend, device, path)
    for _ in range(device.profile.rounds - 1):
        measured = measured.pooled(measure_in_fresh_process(backend, device, path))
    return measured


def exported_encoder(net: nn.Module, backend: Backend, workdir: Path) -> Path:
    """The network as the backend runs it, in ``<workdir>/models``, exported once per structure and toolchain."""
    fmt = backend.artifact_format
    if fmt not in EXPORT_FORMATS:
        raise HwnasError(f"backend {backend.name!r} takes .{fmt} models, which hwnas cannot export")
    parts = [str(net), json.dumps(net.deploy_inputs()), *toolchain(fmt, backend.precision)]
    path = Path(workdir) / "models" / f"encoder-{hashlib.sha256('|'.join(parts).encode()).hexdigest()[:16]}.{fmt}"
    if not path.exists():
        export_encoder(net, path, fmt, backend.precision)
    return path


@dataclass(frozen=True)
class LatencyCheck:
    """An architecture's LUT prediction beside its end-to-end measurement on the same device."""

    predicted_ms: float
    predicted_uncalibrated_ms: float
    measured: Measurement
    # the table's calibration networks' time now over their time in the profile (median; 1.0: not known): above 1
    # the host runs slower than when the table was profiled
    host_factor: float = 1.0

    @property
    def error(self) -> float:
        """(predicted - measured) / measured."""
        return self.predicted_ms / self.measured.median_ms - 1

    @property
    def error_at_host_speed(self) -> float:
        """The error of the prediction scaled by the host's change of speed since the profile."""
        return self.predicted_ms * self.host_factor / self.measured.median_ms - 1

    def as_dict(self) -> dict[str, float | int]:
        return {
            "predicted_ms": self.predicted_ms,
            "predicted_uncalibrated_ms": self.predicted_uncalibrated_ms,
            "measured_ms": self.measured.median_ms,
            "measured_iqr_ms": self.measured.iqr_ms,
            "measured_runs": self.measured.n,
            "prediction_error": self.error,
            "host_factor": self.host_factor,
            "prediction_error_at_host_speed": self.error_at_host_speed,
        }


def check_architecture(
    arch: Architecture,
    preset: SpacePreset,
    table: LatencyTable,
    device: DevicePreset,
    backend: Backend,
    workdir: Path,
) -> LatencyCheck:
    """The table's prediction for an architecture beside its end-to-end measurement."""
    return _check(arch, preset, table, measure_encoder(_network(arch, preset), device, backend, workdir))


def check_at_host_speed(
    archs: Sequence[Architecture],
    preset: SpacePreset,
    table: LatencyTable,
    device: DevicePreset,
    backend: Backend,
    workdir: Path,
    rounds: int | None = None,
    progress: Callable[[], None] | None = None,
) -> list[LatencyCheck]:
    """Check architectures on a shared host, whose speed moves by tens of per cent within minutes: in each round
    one fresh process measures them beside the table's calibration networks (in a new order each round, each in
    the device's ``network_loads``; pooled over ``rounds``, default the device's), and the calibration networks'
    time now against their time in the profile (the median ratio) is each check's ``host_factor``. Without
    calibration networks it stays 1.0."""
    backend.check()
    refs = calibration_artifacts(table, preset, device, backend, workdir)
    models = [exported_encoder(_network(arch, preset), backend, workdir) for arch in archs] + list(refs.values())
    loads = device.profile.network_loads  # as the calibration networks were measured in the profile
    pooled: dict[int, Measurement] = {}
    for r in range(rounds or device.profile.rounds):
        order = list(range(len(models)))
        if r:
            random.Random(r).shuffle(order)
        measured_now = measure_many_in_fresh_process(backend, device, [models[i] for i in order], loads)
        for i, m in zip(order, measured_now, strict=True):
            pooled[i] = pooled[i].pooled(m) if i in pooled else m
        if progress:
            progress()
    factor = 1.0
    if refs:
        stored = {n["key"]: n["measured_ms"] for n in table.network_calibration.networks}
        factor = statistics.median(pooled[len(archs) + j].median_ms / stored[k] for j, k in enumerate(refs))
    return [_check(arch, preset, table, pooled[i], factor) for i, arch in enumerate(archs)]


def calibration_artifacts(
    table: LatencyTable, preset: SpacePreset, device: DevicePreset, backend: Backend, workdir: Path
) -> dict[str, Path]:
    """Key -> artifact of the calibration networks the table was fitted and validated on (none without them)."""
    fit = table.network_calibration
    if fit is None:
        return {}
    kept = {n["key"] for n in fit.networks}
    cache = ArtifactCache(Path(workdir) / "artifacts")
    nets = [n for n in calibration_networks(preset, device.profile.calibration_networks) if n.key in kept]
    return {n.key: cache.network(n, backend.artifact_format, backend.precision) for n in nets}


def _check(
    arch: Architecture, preset: SpacePreset, table: LatencyTable, measured: Measurement, host_factor: float = 1.0
) -> LatencyCheck:
    specs = arch.op_specs(preset)
    return LatencyCheck(table.predict_ms(specs), table.predict_ms(specs, calibrated=False), measured, host_factor)


def _network(arch: Architecture, preset: SpacePreset) -> nn.Module:
    torch.manual_seed(0)
    return ArchitectureNetwork(arch, preset)
