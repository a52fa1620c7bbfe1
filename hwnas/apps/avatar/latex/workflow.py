"""LATEX on trained avatar encoders: fit the early head, stream held-out videos at several thresholds, measure
the per-frame latency on a device, and write the Table 3 and Fig. 6 analogs (docs/latex.md)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from hwnas.apps.avatar.data import synthesize_videos, task_preset
from hwnas.apps.avatar.latex.early_head import (
    EarlyHeadNetwork,
    KeyFrameNetwork,
    frame_flops,
)
from hwnas.apps.avatar.latex.extrapolation import (
    LatexPolicy,
    bisect_threshold,
    threshold_for_skip_ratio,
)
from hwnas.apps.avatar.latex.heads import early_head, view_heads
from hwnas.apps.avatar.latex.streams import clip_streamer, encode_clip, linearity, stream_clips, video_clips
from hwnas.apps.avatar.latex.view_heads import view_flops, view_pieces
from hwnas.apps.avatar.losses import AvatarLoss
from hwnas.apps.avatar.task import AvatarTask
from hwnas.core.errors import HwnasError
from hwnas.core.files import check_writable, write_json, write_text
from hwnas.core.plots import series_over_time
from hwnas.deploy.endtoend import measure_encoder
from hwnas.workflows.runs import load_trained
from hwnas.workflows.tables import open_device

GRANULARITIES = ("frame", "view")
SKIP_RATIOS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
MEASURE_ROUNDS = 3  # each network measured end to end this many times, in fresh processes; the median is kept
VIEW_BISECTION_STEPS = 20  # each step streams the calibration videos once; 2^-20 of the range is fine enough
CALIBRATION_STREAM = 1  # calibration videos are other videos of the same people than the evaluated ones
GAINS = (0.0, 0.25, 0.5, 0.75, 1.0)  # per view: how far a held part follows the head; chosen per threshold


@dataclass(frozen=True)
class LatexRequest:
    run_dirs: tuple[Path, ...]
    device: str = "cpu"
    thresholds: tuple[float, ...] | None = None  # or calibrated to skip_ratios on calibration videos
    skip_ratios: tuple[float, ...] = SKIP_RATIOS
    granularity: str = "frame"  # a decision per frame (the paper's) or per view (latex/view_heads.py)
    window: int = 8
    decision: str = "last-key"
    extrapolation: str = "hold"
    frames: int = 300  # per held-out video (one per identity)
    out_dir: Path = Path("runs/latex")
    devices_file: Path | None = None
    workdir: Path = Path(".hwnas")
    device_overrides: dict[str, Any] = field(default_factory=dict)
    progress: bool = True

    def __post_init__(self) -> None:
        if self.granularity not in GRANULARITIES:
            raise HwnasError(f"unknown granularity {self.granularity!r}; choose from {', '.join(GRANULARITIES)}")

    def policy(self, threshold: float = 0.0) -> LatexPolicy:
        return LatexPolicy(threshold, self.window, self.decision, self.extrapolation)


# ---- one run --------------------------------------------------------------------------------------------


def _label(run_dir: Path) -> str:
    return Path(run_dir).resolve().name


def _checked_run(run_dir: Path):
    run, task, net, step = load_trained(run_dir)
    if not isinstance(task, AvatarTask):
        raise HwnasError(f"{run_dir} trains a {task.name} encoder; LATEX streams avatar videos only")
    if run.data != "synthetic":
        raise HwnasError(
            f"{run_dir} was trained on {run.data}; LATEX's held-out videos are synthetic, so it needs a run "
            "trained on the synthetic benchmark"
        )
    if not hasattr(net, "early_taps"):
        raise HwnasError(f"the encoder of {run_dir} declares no early_taps(); LATEX cannot attach its head")
    return run, task, net, step


def latex_run(run_dir: Path, loaded, request: LatexRequest, device, backend, bar) -> dict[str, Any]:
    """``loaded``: the run's (config, task, trained network, step), as ``_checked_run`` gives them."""
    run, task, net, step = loaded
    spec = task_preset(run.preset)
    torch.manual_seed(0)
    bar.set_postfix_str(f"{_label(run_dir)}: early head")
    per_view = request.granularity == "view"
    head = (view_heads if per_view else early_head)(run_dir, net, task.data, step)
    streamer = clip_streamer(net, head)
    loss = AvatarLoss(task.data.z.shape[1], spec.render_size).eval()
    bar.set_postfix_str(f"{_label(run_dir)}: videos")
    videos = synthesize_videos(spec, run.seed, request.frames)
    clips = video_clips(net, head, videos)
    extreme = task.data.indices("extreme")
    extreme_clips = [
        encode_clip(net, head, task.data, extreme[task.data.identity[extreme] == i])
        for i in task.data.identity[extreme].unique().tolist()
    ]
    calibration = []  # other videos of the same people: for the thresholds and, per view, the gains
    if request.thresholds is None or per_view:
        calibration = video_clips(net, head, synthesize_videos(spec, run.seed, request.frames,
                                                               stream=CALIBRATION_STREAM))  # fmt: skip
    if request.thresholds is not None:
        thresholds = list(request.thresholds)
    elif per_view:

        def skipped(threshold: float) -> float:
            keys = np.concatenate([streamer(clip, request.policy(threshold))[1] for clip in calibration])
            return 1 - keys.mean()

        # codes are in units of the outputs' spread over the training frames: 10 skips all but the first T
        thresholds = [bisect_threshold(skipped, r, 10.0, steps=VIEW_BISECTION_STEPS) for r in request.skip_ratios]
    else:
        thresholds = [threshold_for_skip_ratio([c.early for c in calibration], r, request.policy())
                      for r in request.skip_ratios]  # fmt: skip
    rows = []
    for threshold in sorted(set(thresholds)):
        bar.set_postfix_str(f"{_label(run_dir)}: threshold {threshold:.4g}")
        policy = request.policy(threshold)
        if per_view and threshold > 0:  # the gain that serves the calibration videos best (keys do not change)
            gain = min(GAINS, key=lambda g: stream_clips(calibration, replace(policy, gain=g), loss, streamer)[
                "vs_always_encode"])  # fmt: skip
            policy = replace(policy, gain=gain)
        row = {"threshold": threshold, "gain": policy.gain, **stream_clips(clips, policy, loss, streamer)}
        ext = stream_clips(extreme_clips, policy, loss, streamer)
        row["extreme"] = {"skip_ratio": ext["skip_ratio"], "mean": ext["mean"]}
        rows.append(row)
    bar.set_postfix_str(f"{_label(run_dir)}: measuring on {device.name}")
    if per_view:
        views = list(head.heads)
        pieces = view_pieces(net, head)
        networks = {
            "encoder_ms": net,
            "decision_ms": pieces["heads"],
            **{f"part_ms.{v}": pieces[f"part-{v}"] for v in views},
            "fuse_ms": pieces["fuse"],
        }
        flops = view_flops(net, pieces)
    else:
        views = []
        networks = {
            "encoder_ms": net,
            "key_frame_ms": KeyFrameNetwork(net, head),
            "skipped_frame_ms": EarlyHeadNetwork(net, head),
        }
        flops = frame_flops(net, head)
    samples: dict[str, list[float]] = {k: [] for k in networks}
    for _ in range(MEASURE_ROUNDS):  # interleaved rounds, so a slow spell of the machine hits all alike
        for k, network in networks.items():
            samples[k].append(measure_encoder(network, device, backend, request.workdir).median_ms)
    latency = {k: float(np.median(v)) for k, v in samples.items()}
    always = rows[0] if rows[0]["threshold"] == 0 else None
    for row in rows:
        sr = row["skip_ratio"]
        if row["threshold"] == 0:  # always encode: the encoder alone, no head
            row["frame_ms"], row["mflops"] = latency["encoder_ms"], flops["encoder"] / 1e6
        elif per_view:
            rates = dict(zip(views, row["key_rates"], strict=True))
            row["frame_ms"] = (
                latency["decision_ms"] + latency["fuse_ms"] + sum(rates[v] * latency[f"part_ms.{v}"] for v in views)
            )
            row["mflops"] = (flops["decision"] + flops["fuse"] + sum(rates[v] * flops["parts"][v] for v in views)) / 1e6
        else:
            row["frame_ms"] = (1 - sr) * latency["key_frame_ms"] + sr * latency["skipped_frame_ms"]
            row["mflops"] = ((1 - sr) * flops["key_frame"] + sr * flops["skipped_frame"]) / 1e6
        row["speedup"] = latency["encoder_ms"] / row["frame_ms"]
        if always is not None:
            row["mse_increase"] = row["mean"] / always["mean"] - 1
    return {
        "run_dir": str(run_dir),
        "label": _label(run_dir),
        "encoder": run.encoder,
        "preset": run.preset,
        "granularity": request.granularity,
        "views": views,
        "flops": flops,
        "head_share_of_encoder_flops": flops["head"] / flops["encoder"],
        "latency": latency,
        "rows": rows,
        "linearity": linearity(clips, loss),
        "_events": [(e.start, e.length, e.kind) for e in videos.events[0]],
    }


# ---- the report -----------------------------------------------------------------------------------------


def table_lines(results: list[dict[str, Any]], device: str) -> list[str]:
    """The Table 3 analog, one row per encoder and threshold."""
    lines = [
        f"| model | LATEX | skipped (frames or views) | MFLOPs / frame | {device} ms / frame | speed-up | "
        "render MSE (F / L / R) | mean | vs always-encode | +% | event frames | winks | extreme (skip) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        for row in r["rows"]:
            sr = row["skip_ratio"]
            inc = f"{100 * row['mse_increase']:+.1f}" if "mse_increase" in row else "-"
            ev = "-" if row["events"] is None else f"{row['events']:.2f}"
            wk = "-" if row["winks"] is None else f"{row['winks']:.2f}"
            latex = "off" if row["threshold"] == 0 else f"per {r['granularity']} θ={row['threshold']:.4g}"
            lines.append(
                f"| {r['label']} | {latex} | "
                f"{100 * sr:.1f}% | {row['mflops']:.2f} | {row['frame_ms']:.3f} | {row['speedup']:.2f}x | "
                f"{row['front']:.2f} / {row['left']:.2f} / {row['right']:.2f} | {row['mean']:.2f} | "
                f"{row['vs_always_encode']:.2f} | {inc} | {ev} | {wk} | "
                f"{row['extreme']['mean']:.2f} ({100 * row['extreme']['skip_ratio']:.0f}%) |"
            )
    return lines


def _public(value):
    """Drop the plot-only entries (keys starting with ``_``)."""
    if isinstance(value, dict):
        return {k: _public(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [_public(v) for v in value]
    return value


def run_latex(request: LatexRequest) -> tuple[dict[str, Any], list[str]]:
    if not request.run_dirs:
        raise HwnasError("give at least one --run-dir (a folder written by `hwnas train`)")
    request.policy()  # refuse bad settings first
    check_writable(request.out_dir, "--out")
    loaded = [_checked_run(run_dir) for run_dir in request.run_dirs]
    device, backend = open_device(request.device, request.devices_file, request.device_overrides)
    backend.check()
    results = []
    with tqdm(total=len(request.run_dirs), desc="latex", unit="run", disable=not request.progress) as bar:
        for run_dir, run in zip(request.run_dirs, loaded, strict=True):
            results.append(latex_run(run_dir, run, request, device, backend, bar))
            bar.update()
    out = Path(request.out_dir)
    kept = ("granularity", "window", "decision", "extrapolation", "frames")
    settings = {k: v for k, v in asdict(request).items() if k in kept}
    report = {"device": device.name, "settings": settings, "runs": _public(results)}
    write_json(out / "latex.json", report)
    lines = table_lines(results, device.name)
    write_text(out / "latex.md", "\n".join(lines) + "\n")
    panels = []
    for r in results:
        series = {
            ("always encode" if row["threshold"] == 0 else f"sr={100 * row['skip_ratio']:.0f}%"): row["_frames"][0]
            for row in r["rows"]
        }
        panels.append((f"{r['label']}: render MSE per frame, first held-out video", series, r["_events"]))
    series_over_time(panels, out / "latex_mse.png", "render MSE")
    linear_panels = [
        (f"{r['label']}: inner frames of {r['linearity']['window']}-frame windows", r["linearity"]["_first"],
         r["_events"])
        for r in results
    ]  # fmt: skip
    series_over_time(linear_panels, out / "linearity.png", "render MSE")
    return report, lines
