"""Measure a whole network end to end on a device, beside the latency table's prediction for it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from hwnas.core.errors import HwnasError
from hwnas.core.measurement import Measurement
from hwnas.deploy.export import EXPORT_FORMATS, export_encoder
from hwnas.lut.table import LatencyTable
from hwnas.measure.artifacts import toolchain
from hwnas.measure.backends.base import Backend
from hwnas.measure.devices import DevicePreset
from hwnas.measure.worker import measure_in_fresh_process
from hwnas.space.architecture import Architecture
from hwnas.space.declared import SpacePreset
from hwnas.space.network import ArchitectureNetwork


def measure_encoder(net: nn.Module, device: DevicePreset, backend: Backend, workdir: Path) -> Measurement:
    """Export into ``<workdir>/models`` (cached by structure) and measure end to end with the device's backend
    and profile settings — as many rounds as its ops were measured in, pooled — each in a fresh process: right
    after training, torch's spinning worker threads would slow an in-process measurement by half. Weights do not
    matter for latency."""
    fmt = backend.artifact_format
    if fmt not in EXPORT_FORMATS:
        raise HwnasError(f"backend {backend.name!r} takes .{fmt} models, which hwnas cannot export")
    backend.check()
    parts = [str(net), json.dumps(net.deploy_inputs()), *toolchain(fmt, backend.precision)]
    path = Path(workdir) / "models" / f"encoder-{hashlib.sha256('|'.join(parts).encode()).hexdigest()[:16]}.{fmt}"
    if not path.exists():
        export_encoder(net, path, fmt, backend.precision)
    measured = measure_in_fresh_process(backend, device, path)
    for _ in range(device.profile.rounds - 1):
        measured = measured.pooled(measure_in_fresh_process(backend, device, path))
    return measured


@dataclass(frozen=True)
class LatencyCheck:
    """An architecture's LUT prediction beside its end-to-end measurement on the same device."""

    predicted_ms: float
    predicted_uncalibrated_ms: float
    measured: Measurement

    @property
    def error(self) -> float:
        """(predicted - measured) / measured."""
        return self.predicted_ms / self.measured.median_ms - 1

    def as_dict(self) -> dict[str, float | int]:
        return {
            "predicted_ms": self.predicted_ms,
            "predicted_uncalibrated_ms": self.predicted_uncalibrated_ms,
            "measured_ms": self.measured.median_ms,
            "measured_iqr_ms": self.measured.iqr_ms,
            "measured_runs": self.measured.n,
            "prediction_error": self.error,
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
    torch.manual_seed(0)
    net = ArchitectureNetwork(arch, preset)
    specs = arch.op_specs(preset)
    return LatencyCheck(
        predicted_ms=table.predict_ms(specs),
        predicted_uncalibrated_ms=table.predict_ms(specs, calibrated=False),
        measured=measure_encoder(net, device, backend, workdir),
    )
