"""Export OpSpecs (and whole modules) to on-disk artifacts, cached by a hash of what determines them."""

from __future__ import annotations

import contextlib
import hashlib
import io
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from hwnas.core.errors import HwnasError, one_line
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


class DeployedNetwork(torch.nn.Module):
    """A deployable network (``deploy_inputs()``, ``encode(inputs)``, ``output_names``) with positional inputs and a
    tuple of outputs, as ONNX wants it."""

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net = net

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.net.encode(dict(zip(self.net.deploy_inputs(), inputs, strict=True)))
        return tuple(out[k] for k in self.net.output_names)


def export_network_onnx(net: torch.nn.Module, path: Path) -> Path:
    """A deployable network as ONNX: one named input per ``deploy_inputs()`` entry, one output per output name."""
    return export_onnx(DeployedNetwork(net), net.deploy_inputs(), path, list(net.output_names))


@dataclass(frozen=True)
class NetworkSpec:
    """A whole network measured beside the ops of a space, so that a table can be checked and calibrated against
    networks measured the same way, at the same time. ``build`` makes the deployable module."""

    key: str  # unique within the space preset
    role: str  # "fit" or "validate"
    description: str  # what rebuilds it (an architecture's JSON), kept with its measurement
    build: Callable[[], torch.nn.Module]


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
        def export(path: Path) -> Path:
            torch.manual_seed(int(self.fingerprint(spec, "onnx"), 16) % 2**31)
            return export_onnx(spec.build_module(), {"input": spec.input_shape}, path)

        return _made(self.path(spec, fmt, precision), fmt, precision, export, lambda: self.get(spec, "onnx"))

    def network_path(self, spec: NetworkSpec, fmt: str, precision: str = "float32") -> Path:
        digest = hashlib.sha256("|".join([spec.description, *toolchain(fmt, precision)]).encode()).hexdigest()[:12]
        return self.root / fmt / f"network-{spec.key}-{digest}.{fmt}"

    def network(self, spec: NetworkSpec, fmt: str, precision: str = "float32") -> Path:
        def export(path: Path) -> Path:
            torch.manual_seed(0)
            return export_network_onnx(spec.build(), path)

        path = self.network_path(spec, fmt, precision)
        return _made(path, fmt, precision, export, lambda: self.network(spec, "onnx"))

    def prepare_networks(
        self, specs: Sequence[NetworkSpec], fmt: str, precision: str = "float32", workers: int = 2
    ) -> dict[str, str]:
        """Create the missing network artifacts (TFLite conversions in parallel processes). Returns network key ->
        reason for each network that could not be made."""
        failures: dict[str, str] = {}
        if fmt != "tflite":
            for spec in specs:
                try:
                    self.network(spec, fmt, precision)
                except Exception as exc:  # an exporter that cannot take the network: the ops still count
                    failures[spec.key] = one_line(exc)
            return failures
        missing = {self.network_path(s, fmt, precision): s for s in specs}
        missing = {path: s for path, s in missing.items() if not path.exists()}
        jobs = [(self.network(spec, "onnx"), path) for path, spec in missing.items()]
        return {missing[path].key: reason for path, reason in convert_many(jobs, workers, precision=precision).items()}

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


def _made(path: Path, fmt: str, precision: str, export: Callable[[Path], Path], onnx: Callable[[], Path]) -> Path:
    """The artifact at ``path``: kept, exported (ONNX), or converted from the ONNX one (TFLite)."""
    if path.exists():
        return path
    if fmt == "onnx":
        return export(path)
    if fmt == "tflite":
        return onnx_to_tflite(onnx(), path, precision)
    raise HwnasError(f"no exporter for artifact format {fmt!r} yet; backends that consume it cannot run")
