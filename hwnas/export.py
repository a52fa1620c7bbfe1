"""Export a derived avatar encoder as it runs on the device, and measure it end to end.

The deployed model takes one input per view, already at the architecture's resolution for that view (the
camera pipeline resizes), and returns z, g and y — exactly the ops the LatencyTable predicts, plus concats.
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
from hwnas.avatar.network import VIEW_ORDER, AvatarNetwork
from hwnas.backends.base import Backend
from hwnas.devices import DevicePreset
from hwnas.errors import HwnasError
from hwnas.lut.table import LatencyTable
from hwnas.measurement import Measurement
from hwnas.profiler import profile_model
from hwnas.searchspaces.declarative import SpacePreset

EXPORT_FORMATS = ("onnx", "tflite")
OUTPUT_NAMES = ("z", "g", "y")


class DeployedEncoder(nn.Module):
    """The encoder with a tuple of outputs (z, g, y). An architecture's network takes one input per view at
    that view's resolution; a baseline takes the three views stacked at its input resolution."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if isinstance(self.net, AvatarNetwork):
            out = self.net.encode(dict(zip(VIEW_ORDER, inputs, strict=True)))
        else:
            out = self.net(inputs[0])
        return tuple(out[k] for k in OUTPUT_NAMES)


def input_shapes(net: nn.Module) -> dict[str, tuple[int, ...]]:
    if isinstance(net, AvatarNetwork):
        return {v: (1, 1, net.arch.resolutions[v], net.arch.resolutions[v]) for v in VIEW_ORDER}
    return {"views": (1, 3, net.input_res, net.input_res)}


def export_encoder(net: nn.Module, path: Path, fmt: str = "onnx") -> Path:
    """Write ``net`` to ``path`` as ONNX, or as TFLite (converted from that ONNX and checked against it)."""
    if fmt not in EXPORT_FORMATS:
        raise HwnasError(f"unknown export format {fmt!r}; choose from {', '.join(EXPORT_FORMATS)}")
    path = Path(path)
    if path.suffix != f".{fmt}":
        raise HwnasError(f"the output file of a {fmt} export must end in .{fmt}, not {path.name!r}")
    onnx_path = path.with_suffix(".onnx")
    export_onnx(DeployedEncoder(net), input_shapes(net), onnx_path, OUTPUT_NAMES)
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
    return profile_model(backend, device, path)


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
    net = AvatarNetwork(arch, preset, input_res=max(arch.resolutions.values()))
    specs = arch.op_specs(preset)
    return LatencyCheck(
        predicted_ms=table.predict_ms(specs),
        predicted_uncalibrated_ms=table.predict_ms(specs, calibrated=False),
        measured=measure_encoder(net, device, backend, workdir),
    )
