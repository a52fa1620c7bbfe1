"""What a finished search leaves in its folder: arch.json, report.json and search_curves.png."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hwnas.core.files import without_non_finite, write_json
from hwnas.core.plots import random_candidates, search_curves
from hwnas.search.config import SearchConfig
from hwnas.search.loop import SearchResult
from hwnas.space.declared import SpacePreset

REPORT = "report.json"
CURVES = "search_curves.png"


def write_report(
    result: SearchResult,
    preset: SpacePreset,
    config: SearchConfig,
    out_dir: Path,
    table_path: Path,
    method: str = "differentiable",
    latency_check: dict[str, float | int] | None = None,
    context: dict[str, Any] | None = None,
) -> Path:
    """arch.json, report.json (with the end-to-end latency check when given) and the curves PNG: the search's
    losses, latency and temperature, or for random search each candidate's latency and held-out loss."""
    out_dir.mkdir(parents=True, exist_ok=True)
    result.architecture.save(out_dir / "arch.json")
    report = {
        **(context or {}),  # device, backend and task, when the caller knows them
        "method": method,
        **config.target.record(),  # target_ms, and the speed-up and reference it came from
        "predicted_ms": result.predicted_ms,
        "argmax_predicted_ms": result.argmax_predicted_ms,
        "measured": latency_check,
        "mflops": result.architecture.flops(preset) / 1e6,
        "resolutions": result.architecture.resolutions,
        "branches": {
            f"{b.view}.{b.branch}": [f"{c.op}@{c.width}" for c in b.layers] for b in result.architecture.branches
        },
        "table": str(table_path),
        "config": config.record(),
        "wall_s": result.wall_s,
        "history": result.history,
        **({"proposals": result.proposals} if result.proposals is not None else {}),
    }
    if result.history:
        final = {"final design, predicted": result.predicted_ms}
        if latency_check:
            final["final design, measured"] = float(latency_check["measured_ms"])
        plot = random_candidates if method == "random" else search_curves
        plot(result.history, config.target.milliseconds, out_dir / CURVES, final)
    # last: its presence marks a finished search; a NaN loss in the history is written as null
    write_json(out_dir / REPORT, without_non_finite(report), default=str)
    return out_dir / "arch.json"
