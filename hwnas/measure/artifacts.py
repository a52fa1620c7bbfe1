"""Export OpSpecs (and whole modules) to on-disk artifacts, cached by a hash of what determines them."""

from __future__ import annotations

import contextlib
import hashlib
import io
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from hwnas.core.errors import HwnasError
from hwnas.core.files import atomic_path
from hwnas.ops import OpSpec

ONNX_OPSET = 17
_EXPORT_FORMAT_VERSION = "2"  # bump when the export procedure changes what an artifact holds


def export_onnx(
    module: torch.nn.Module,
    inputs: Mapping[str, tuple[int, ...]],
    path: Path,
    output_names: Sequence[str] = ("output",),
) -> Path:
    """Export with static shapes (one named input per entry of ``inputs``); written to a temporary file and
    renamed, so no half-written artifact."""
    module = module.eval()
    examples = tuple(torch.randn(*shape) for shape in inputs.values())
    quiet = contextlib.redirect_stdout(io.StringIO())
    with atomic_path(path) as tmp, warnings.catch_warnings(), quiet, torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            examples,
            str(tmp),
            dynamo=False,
            opset_version=ONNX_OPSET,
            input_names=list(inputs),
            output_names=list(output_names),
        )
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
            return export_onnx(spec.build_module(), {"input": spec.input_shape}, path)
        raise HwnasError(f"no exporter for artifact format {fmt!r} yet; backends that consume it cannot run")
