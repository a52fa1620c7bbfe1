"""Export a trained run's encoder, or an architecture with random weights, as the device runs it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hwnas.core.errors import HwnasError
from hwnas.core.files import check_writable
from hwnas.deploy.early_head import EarlyHeadNetwork, KeyFrameNetwork
from hwnas.deploy.export import export_encoder
from hwnas.deploy.view_heads import view_pieces
from hwnas.workflows.latex import load_early_head, load_view_heads
from hwnas.workflows.runs import architecture_network, load_trained


@dataclass(frozen=True)
class Export:
    paths: list[Path]
    notes: list[str] = field(default_factory=list)  # what else the run's LATEX heads added


def export_network(
    run_dir: Path | None = None,
    arch_path: Path | None = None,
    fmt: str = "onnx",
    precision: str = "float32",
    out: Path | None = None,
) -> Export:
    """Export the encoder of ``run_dir`` (with the LATEX heads it has), or ``arch_path`` with random weights, to
    ``out`` (default ``<run-dir>/encoder.<fmt>`` or the architecture file with that suffix)."""
    if (run_dir is None) == (arch_path is None):
        raise HwnasError("give exactly one of --run-dir (a trained encoder) or --arch (an architecture JSON)")
    if precision != "float32" and fmt != "tflite":
        raise HwnasError(f"--precision {precision} applies to --format tflite only; ONNX exports are float32")
    source = Path(run_dir) / "encoder" if run_dir is not None else Path(arch_path)  # type: ignore[arg-type]
    out = Path(out) if out is not None else source.with_suffix(f".{fmt}")
    check_writable(out, "--out", is_file=True)  # before the network is built, converted and checked
    head = view_heads = None
    if run_dir is not None:
        net = load_trained(run_dir)[2]
        head, view_heads = load_early_head(run_dir), load_view_heads(run_dir)
    else:
        net = architecture_network(arch_path)  # type: ignore[arg-type]
    if head is None:
        result = Export([export_encoder(net, out, fmt, precision)])
    else:  # what LATEX runs: key frames the encoder + head, skipped frames the head alone
        early = out.with_name(f"{out.stem}.early{out.suffix}")
        result = Export(
            [export_encoder(KeyFrameNetwork(net, head), out, fmt, precision),
             export_encoder(EarlyHeadNetwork(net, head), early, fmt, precision)],
            [f"the run has a LATEX head: {out.name} adds the output z_early; {early.name} is the head alone"],
        )  # fmt: skip
    if view_heads is not None:  # what per-view LATEX runs
        pieces = view_pieces(net, view_heads)
        paths = [export_encoder(m, out.with_name(f"{out.stem}.{k}{out.suffix}"), fmt, precision)
                 for k, m in pieces.items()]  # fmt: skip
        result.paths.extend(paths)
        result.notes.append(f"the run has per-view LATEX heads: {', '.join(p.name for p in paths)}")
    return result
