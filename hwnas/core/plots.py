"""PNG figures of searches and benchmarks (matplotlib, headless)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import Patch

from hwnas.core.files import atomic_path


def search_curves(
    history: Sequence[dict[str, float]], target_ms: float, path: Path, final: dict[str, float] | None = None
) -> Path:
    """Weight loss, architecture-step task loss, expected latency against the target and the final design's
    latencies (``final``: label -> ms, e.g. predicted and measured end to end), and temperature."""
    steps = [h["step"] for h in history]
    arch = [h for h in history if "latency_ms" in h]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    axes[0].plot(steps, [h["weight_loss"] for h in history], lw=0.8, label="weight step")
    if arch:
        axes[0].plot([h["step"] for h in arch], [h["arch_loss"] for h in arch], lw=0.8, label="architecture step")
        axes[1].plot([h["step"] for h in arch], [h["latency_ms"] for h in arch], lw=1.0, label="expected latency")
    axes[1].axhline(target_ms, color="k", ls="--", lw=0.8, label="target")
    for i, (label, ms) in enumerate((final or {}).items()):
        axes[1].axhline(ms, color=f"C{i + 1}", ls=":", lw=1.2, label=label)
    axes[2].plot(steps, [h["tau"] for h in history], color="C2")
    axes[0].set(title="task loss", xlabel="step", yscale="log")
    axes[1].set(title="latency (ms, from the table)", xlabel="step")
    axes[2].set(title="Gumbel temperature", xlabel="step")
    axes[0].legend(fontsize=8)
    axes[1].legend(fontsize=8)
    return _save(fig, path)


def random_candidates(
    history: Sequence[dict[str, float]], target_ms: float, path: Path, final: dict[str, float] | None = None
) -> Path:
    """Random search: each trained candidate's predicted latency and held-out loss; the kept one is marked."""
    fig, ax = plt.subplots(figsize=(5.5, 4))
    x = [h["predicted_ms"] for h in history]
    y = [h["held_out_loss"] for h in history]
    best = min(range(len(y)), key=y.__getitem__)
    ax.scatter(x, y, s=24, label="candidate")
    ax.scatter([x[best]], [y[best]], s=80, facecolors="none", edgecolors="C3", label="kept")
    ax.axvline(target_ms, color="k", ls="--", lw=0.8, label="target")
    for i, (label, ms) in enumerate((final or {}).items()):
        ax.axvline(ms, color=f"C{i + 1}", ls=":", lw=1.2, label=label)
    ax.set(xlabel="latency (ms)", ylabel="held-out loss", title="random search at equal budget")
    ax.legend(fontsize=8)
    return _save(fig, path)


def scatter_predicted_measured(
    measured: Sequence[float], series: dict[str, Sequence[float]], path: Path, title: str
) -> Path:
    fig, ax = plt.subplots(figsize=(5, 5))
    lo = min(min(measured), *(min(v) for v in series.values()))
    hi = max(max(measured), *(max(v) for v in series.values()))
    ax.plot([lo, hi], [lo, hi], "k-", lw=0.8, label="y = x")
    ax.fill_between([lo, hi], [lo * 0.9, hi * 0.9], [lo * 1.1, hi * 1.1], color="0.9", label="±10%")
    for label, predicted in series.items():
        ax.scatter(measured, predicted, s=14, label=label)
    ax.set(xlabel="measured end to end (ms)", ylabel="predicted from the table (ms)", title=title)
    ax.legend(fontsize=8)
    return _save(fig, path)


def pareto(points: Sequence[tuple[str, float, float]], path: Path, ylabel: str) -> Path:
    """points: (label, latency ms, metric)."""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for label, x, y in points:
        ax.scatter([x], [y], s=24)
        ax.annotate(label, (x, y), fontsize=8, xytext=(4, 3), textcoords="offset points")
    ax.set(xlabel="measured latency (ms)", ylabel=ylabel, xscale="log", title=f"latency vs {ylabel}")
    return _save(fig, path)


def series_over_time(
    panels: Sequence[tuple[str, dict[str, Sequence[float]], Sequence[tuple[int, int, str]]]],
    path: Path,
    ylabel: str,
) -> Path:
    """One panel per (title, {label: per-frame values}, [(start, length, kind) of shaded events]), stacked."""
    fig, axes = plt.subplots(len(panels), 1, figsize=(11, 3.2 * len(panels)), squeeze=False)
    for ax, (title, series, events) in zip(axes[:, 0], panels, strict=True):
        colours = {}
        for start, length, kind in events:
            colours.setdefault(kind, f"C{len(colours) + 5}")
            ax.axvspan(start - 0.5, start + length - 0.5, color=colours[kind], alpha=0.15, lw=0)
        lines = [ax.plot(values, lw=0.9, label=label)[0] for label, values in series.items()]
        spans = [Patch(color=colour, alpha=0.3, label=kind) for kind, colour in colours.items()]
        ax.set(title=title, xlabel="frame", ylabel=ylabel)
        ax.legend(handles=lines + spans, fontsize=7, ncol=4)
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    path = Path(path)
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=120, format=path.suffix.lstrip(".") or "png")
    finally:
        plt.close(fig)
    return path
