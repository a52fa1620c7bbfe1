"""Export a network as it runs on the device.

A deployable network declares ``deploy_inputs()`` (input name -> static shape), ``encode(inputs)`` and
``output_names``: an Architecture's network takes one input per view, already at the architecture's
resolution for that view (the camera pipeline resizes), and returns its branch outputs — exactly the ops the
LatencyTable predicts, plus concats.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from hwnas.core.errors import HwnasError
from hwnas.measure.artifacts import DeployedNetwork as DeployedEncoder  # noqa: F401  (its old name, kept importable)
from hwnas.measure.artifacts import export_network_onnx

EXPORT_FORMATS = ("onnx", "tflite")


def export_encoder(net: nn.Module, path: Path, fmt: str = "onnx", precision: str = "float32") -> Path:
    """Write ``net`` to ``path`` as ONNX, or as TFLite in ``precision`` (converted from that ONNX and checked
    against it)."""
    if fmt not in EXPORT_FORMATS:
        raise HwnasError(f"unknown export format {fmt!r}; choose from {', '.join(EXPORT_FORMATS)}")
    path = Path(path)
    if path.suffix != f".{fmt}":
        raise HwnasError(f"the output file of a {fmt} export must end in .{fmt}, not {path.name!r}")
    onnx_path = path.with_suffix(".onnx")
    export_network_onnx(net, onnx_path)
    if fmt == "onnx":
        return path
    from hwnas.measure.tflite import onnx_to_tflite

    return onnx_to_tflite(onnx_path, path, precision)
