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
from hwnas.measure.tflite import check_precision, convert_many, converter_version, onnx_to_tflite
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


def toolchain(fmt: str, precision: str = "float32") -> list[str]:
    """What determines an artifact of ``fmt`` built from a module (part of every cache key): versions, and the
    precision where it is not float32 (so float32 keys stay what they were before float16 existed)."""
    parts = [fmt, torch.__version__, str(ONNX_OPSET), _EXPORT_FORMAT_VERSION]
    if fmt == "tflite":
        parts.append(converter_version())
        if check_precision(precision) != "float32":
            parts.append(precision)
    return parts


class ArtifactCache:
    """``<root>/<format>/<op key>-<hash>.<format>``; the hash covers the key, torch version, opset, converter
    and precision."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def fingerprint(self, spec: OpSpec, fmt: str, precision: str = "float32") -> str:
        return hashlib.sha256("|".join([spec.key, *toolchain(fmt, precision)]).encode()).hexdigest()[:12]

    def path(self, spec: OpSpec, fmt: str, precision: str = "float32") -> Path:
        return self.root / fmt / f"{spec.key}-{self.fingerprint(spec, fmt, precision)}.{fmt}"

    def get(self, spec: OpSpec, fmt: str, precision: str = "float32") -> Path:
        path = self.path(spec, fmt, precision)
        if path.exists():
            return path
        if fmt == "onnx":
            torch.manual_seed(int(self.fingerprint(spec, fmt), 16) % 2**31)
            return export_onnx(spec.build_module(), {"input": spec.input_shape}, path)
        if fmt == "tflite":
            return onnx_to_tflite(self.get(spec, "onnx"), path, precision)
        raise HwnasError(f"no exporter for artifact format {fmt!r} yet; backends that consume it cannot run")

    def prepare(
        self, specs: Sequence[OpSpec], fmt: str, precision: str = "float32", workers: int = 2, progress: bool = False
    ) -> dict[str, str]:
        """Create the missing artifacts of ``specs`` up front: TFLite conversions run in parallel worker
        processes. Returns op key -> reason for each op that could not be converted."""
        if fmt != "tflite":
            return {}
        missing = {self.path(s, fmt, precision): s for s in specs if not self.path(s, fmt, precision).exists()}
        jobs = [(self.get(spec, "onnx"), path) for path, spec in missing.items()]
        quiet = not progress or not jobs
        bar = tqdm(total=len(jobs), desc=f"convert to tflite ({precision})", unit="op", disable=quiet)
        with bar:
            failures = convert_many(jobs, workers, on_done=lambda: bar.update(1), precision=precision)
        return {missing[path].key: reason for path, reason in failures.items()}
