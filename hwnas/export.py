"""Export a derived network as it runs on the device, and measure it end to end.

The deployed model takes one input per view, already at the architecture's resolution for that view (the
camera pipeline resizes), and returns its branch outputs (z, g, y for the avatar encoder) — exactly the ops
the LatencyTable predicts, plus concats.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from hwnas.architecture import Architecture
from hwnas.artifacts import ONNX_OPSET, export_onnx
from hwnas.backends.base import Backend
from hwnas.devices import DevicePreset
from hwnas.errors import HwnasError
from hwnas.lut.table import LatencyTable
from hwnas.measure_worker import measure_in_fresh_process
from hwnas.measurement import Measurement
from hwnas.network import ArchitectureNetwork
from hwnas.searchspaces.declarative import SpacePreset

EXPORT_FORMATS = ("onnx", "tflite")
AVATAR_OUTPUTS = ("z", "g", "y")  # outputs of the avatar baselines (EEM, ...)


class DeployedEncoder(nn.Module):
    """The network with a tuple of outputs. An architecture's network takes one input per view at that
    view's resolution; an avatar baseline takes the three views stacked at its input resolution."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if isinstance(self.net, ArchitectureNetwork):
            out = self.net.encode(dict(zip(self.net.views, inputs, strict=True)))
        else:
            out = self.net(inputs[0])
        return tuple(out[k] for k in output_names(self.net))


def input_shapes(net: nn.Module) -> dict[str, tuple[int, ...]]:
    if isinstance(net, ArchitectureNetwork):
        return {v: (1, 1, net.arch.resolutions[v], net.arch.resolutions[v]) for v in net.views}
    return {"views": (1, 3, net.input_res, net.input_res)}


def output_names(net: nn.Module) -> list[str]:
    return list(net.output_names) if isinstance(net, ArchitectureNetwork) else list(AVATAR_OUTPUTS)


def export_encoder(net: nn.Module, path: Path, fmt: str = "onnx") -> Path:
    """Write ``net`` to ``path`` as ONNX, or as TFLite (converted from that ONNX and checked against it)."""
    if fmt not in EXPORT_FORMATS:
        raise HwnasError(f"unknown export format {fmt!r}; choose from {', '.join(EXPORT_FORMATS)}")
    path = Path(path)
    if path.suffix != f".{fmt}":
        raise HwnasError(f"the output file of a {fmt} export must end in .{fmt}, not {path.name!r}")
    onnx_path = path.with_suffix(".onnx")
    export_onnx(DeployedEncoder(net), input_shapes(net), onnx_path, output_names(net))
    if fmt == "onnx":
        return path
    from hwnas.tflite_convert import onnx_to_tflite

    return onnx_to_tflite(onnx_path, path)


def measure_encoder(net: nn.Module, device: DevicePreset, backend: Backend, workdir: Path) -> Measurement:
    """Export into ``<workdir>/models`` (cached by structure) and measure end to end with the device's backend
    and profile settings. Weights do not matter for latency."""
    if backend.artifact_format != "onnx":
        raise HwnasError(f"end-to-end measurement of {backend.artifact_format} models is not supported yet")
    blob = "|".join([str(net), json.dumps(input_shapes(net)), torch.__version__, str(ONNX_OPSET)])
    path = Path(workdir) / "models" / f"encoder-{hashlib.sha256(blob.encode()).hexdigest()[:16]}.onnx"
    if not path.exists():
        export_encoder(net, path)
    backend.check()
    return measure_in_fresh_process(backend, device, path)  # torch's spinning threads would slow it (+50%)


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
