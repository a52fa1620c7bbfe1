"""Export OpSpecs (and whole modules) to on-disk artifacts, cached by a hash of what determines them."""

from __future__ import annotations

import contextlib
import hashlib
import io
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from tqdm import tqdm

from hwnas.core.errors import HwnasError
from hwnas.core.files import atomic_path
from hwnas.measure.tflite import convert_many, converter_version, onnx_to_tflite
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


def toolchain(fmt: str) -> list[str]:
    """The versions that determine an artifact of ``fmt`` built from a module (part of every cache key)."""
    return [fmt, torch.__version__, str(ONNX_OPSET), _EXPORT_FORMAT_VERSION] + (
        [converter_version()] if fmt == "tflite" else []
    )


class ArtifactCache:
    """``<root>/<format>/<op key>-<hash>.<format>``; the hash covers the key, torch version and opset."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def fingerprint(self, spec: OpSpec, fmt: str) -> str:
        return hashlib.sha256("|".join([spec.key, *toolchain(fmt)]).encode()).hexdigest()[:12]

    def path(self, spec: OpSpec, fmt: str) -> Path:
        return self.root / fmt / f"{spec.key}-{self.fingerprint(spec, fmt)}.{fmt}"

    def get(self, spec: OpSpec, fmt: str) -> Path:
        path = self.path(spec, fmt)
        if path.exists():
            return path
        if fmt == "onnx":
            torch.manual_seed(int(self.fingerprint(spec, fmt), 16) % 2**31)
            return export_onnx(spec.build_module(), {"input": spec.input_shape}, path)
        if fmt == "tflite":
            return onnx_to_tflite(self.get(spec, "onnx"), path)
        raise HwnasError(f"no exporter for artifact format {fmt!r} yet; backends that consume it cannot run")

    def prepare(self, specs: Sequence[OpSpec], fmt: str, workers: int = 2, progress: bool = False) -> dict[str, str]:
        """Create the missing artifacts of ``specs`` up front: TFLite conversions run in parallel worker
        processes. Returns op key -> reason for each op that could not be converted."""
        if fmt != "tflite":
            return {}
        missing = {self.path(s, fmt): s for s in specs if not self.path(s, fmt).exists()}
        jobs = [(self.get(spec, "onnx"), path) for path, spec in missing.items()]
        bar = tqdm(total=len(jobs), desc="convert to tflite", unit="op", disable=not progress or not jobs)
        with bar:
            failures = convert_many(jobs, workers, on_done=lambda: bar.update(1))
        return {missing[path].key: reason for path, reason in failures.items()}
