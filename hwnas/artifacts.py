"""Export OpSpecs (and whole modules) to on-disk artifacts, cached by a hash of what determines them."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import warnings
from pathlib import Path

import torch

from hwnas.errors import HwnasError
from hwnas.ops import OpSpec

ONNX_OPSET = 17
_EXPORT_FORMAT_VERSION = "1"  # bump when the export procedure changes what an artifact holds


def export_onnx(module: torch.nn.Module, input_shape: tuple[int, ...], path: Path) -> Path:
    """Export with static shapes; written to a temporary file and renamed, so no half-written artifact."""
    module = module.eval()
    example = torch.randn(*input_shape)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (example,),
            str(tmp),
            dynamo=False,
            opset_version=ONNX_OPSET,
            input_names=["input"],
            output_names=["output"],
        )
    os.replace(tmp, path)
    return path


class ArtifactCache:
    """``<root>/<format>/<op key>-<hash>.<format>``; the hash covers the key, torch version and opset."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def fingerprint(self, spec: OpSpec, fmt: str) -> str:
        blob = "|".join([spec.key, fmt, torch.__version__, str(ONNX_OPSET), _EXPORT_FORMAT_VERSION])
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def path(self, spec: OpSpec, fmt: str) -> Path:
        return self.root / fmt / f"{spec.key}-{self.fingerprint(spec, fmt)}.{fmt}"

    def get(self, spec: OpSpec, fmt: str) -> Path:
        path = self.path(spec, fmt)
        if path.exists():
            return path
        if fmt == "onnx":
            torch.manual_seed(int(self.fingerprint(spec, fmt), 16) % 2**31)
            return export_onnx(spec.build_module(), spec.input_shape, path)
        raise HwnasError(f"no exporter for artifact format {fmt!r} yet; backends that consume it cannot run")
