"""Export a trained run's encoder, or an architecture with random weights, as the device runs it.

What else a run folder deploys (heads an application fitted to the trained encoder) comes from the entry-point
group ``hwnas.exports``: a function ``(run_dir, network) -> (modules by file-name infix, notes)``; the infix
``""`` replaces the main file, ``"x"`` writes ``<out stem>.x.<format>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from torch import nn

from hwnas.core.errors import HwnasError
from hwnas.core.files import check_writable
from hwnas.deploy.export import export_encoder
from hwnas.workflows.runs import architecture_network, load_trained

ENTRY_POINT_GROUP = "hwnas.exports"


@dataclass(frozen=True)
class Export:
    paths: list[Path]
    notes: list[str] = field(default_factory=list)  # what the run's further pieces (entry points) added


def run_pieces(run_dir: Path, network: nn.Module) -> tuple[dict[str, nn.Module], list[str]]:
    """The modules every installed ``hwnas.exports`` entry point adds for this run, by file-name infix."""
    modules: dict[str, nn.Module] = {"": network}
    notes: list[str] = []
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            extra, extra_notes = ep.load()(run_dir, network)
        except HwnasError:
            raise
        except Exception as exc:
            raise HwnasError(f"export plugin {ep.name!r} ({ep.value}) failed: {type(exc).__name__}: {exc}") from None
        modules.update(extra)
        notes.extend(extra_notes)
    return modules, notes


def export_network(
    run_dir: Path | None = None,
    arch_path: Path | None = None,
    fmt: str = "onnx",
    precision: str = "float32",
    out: Path | None = None,
) -> Export:
    """Export the encoder of ``run_dir`` (with the pieces plugins add for it), or ``arch_path`` with random
    weights, to ``out`` (default ``<run-dir>/encoder.<fmt>`` or the architecture file with that suffix)."""
    if (run_dir is None) == (arch_path is None):
        raise HwnasError("give exactly one of --run-dir (a trained encoder) or --arch (an architecture JSON)")
    if precision != "float32" and fmt != "tflite":
        raise HwnasError(f"--precision {precision} applies to --format tflite only; ONNX exports are float32")
    source = Path(run_dir) / "encoder" if run_dir is not None else Path(arch_path)  # type: ignore[arg-type]
    out = Path(out) if out is not None else source.with_suffix(f".{fmt}")
    check_writable(out, "--out", is_file=True)  # before the network is built, converted and checked
    if run_dir is None:
        return Export([export_encoder(architecture_network(arch_path), out, fmt, precision)])  # type: ignore[arg-type]
    modules, notes = run_pieces(run_dir, load_trained(run_dir)[2])
    paths = [
        export_encoder(module, out.with_name(f"{out.stem}.{infix}{out.suffix}") if infix else out, fmt, precision)
        for infix, module in modules.items()
    ]
    return Export(paths, notes)
