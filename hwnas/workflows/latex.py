"""LATEX on trained avatar encoders: fit the early head, stream held-out videos at several thresholds, measure
the per-frame latency on a device, and write the Table 3 and Fig. 6 analogs (docs/latex.md)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from hwnas.core.errors import HwnasError
from hwnas.core.files import check_writable, write_json, write_text
from hwnas.core.plots import series_over_time
from hwnas.deploy.early_head import (
    EarlyHead,
    EarlyHeadNetwork,
    KeyFrameNetwork,
    fit_early_head,
    frame_flops,
    tapped_maps,
)
from hwnas.deploy.endtoend import measure_encoder
from hwnas.deploy.extrapolation import (
    LatexPolicy,
    bisect_threshold,
    interpolate,
    run_stream,
    run_view_stream,
    threshold_for_skip_ratio,
)
from hwnas.deploy.view_heads import (
    ViewHeads,
    fit_view_heads,
    view_flops,
    view_pieces,
)
from hwnas.tasks.avatar.avatar_task import AvatarTask
from hwnas.tasks.avatar.data import AvatarData, VideoSet, synthesize_videos, task_preset
from hwnas.tasks.avatar.evaluate import frame_mse
from hwnas.tasks.avatar.expressions import Event
from hwnas.tasks.avatar.losses import AvatarLoss
from hwnas.train.checkpoint import load_checkpoint, save_checkpoint
from hwnas.workflows.runs import load_trained
from hwnas.workflows.tables import open_device

HEAD_FILE = "latex_head.pt"
VIEW_HEADS_FILE = "latex_view_heads.pt"
GRANULARITIES = ("frame", "view")
SKIP_RATIOS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
LINEARITY_WINDOW = 8  # Sec. 4.3.1's T
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
    granularity: str = "frame"  # a decision per frame (the paper's) or per view (deploy/view_heads.py)
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


# ---- the head -------------------------------------------------------------------------------------------


def _read_head(path: Path) -> tuple[EarlyHead, int]:
    state = load_checkpoint(path, ("weight", "bias", "step"))
    head = EarlyHead(state["weight"].shape[1], state["weight"].shape[0])
    head.linear.load_state_dict({"weight": state["weight"], "bias": state["bias"]})
    return head.eval(), state["step"]


def early_head(run_dir: Path, net: nn.Module, data: AvatarData, step: int) -> EarlyHead:
    """The run's head, fitted once to its trained encoder on the training frames and kept in the run folder
    (``hwnas export`` exports it with the encoder); refitted when the encoder was trained further."""
    path = Path(run_dir) / HEAD_FILE
    if path.is_file():
        head, fitted_at = _read_head(path)
        if fitted_at == step:
            return head
    train = data.indices("train")
    head = fit_early_head(net, ((data.batch(train[i : i + 256])["views"], None) for i in range(0, len(train), 256)))
    save_checkpoint(path, {"weight": head.linear.weight.data, "bias": head.linear.bias.data, "step": step})
    return head


def view_heads(run_dir: Path, net: nn.Module, data: AvatarData, step: int) -> ViewHeads:
    """The run's per-view heads, fitted once like the frame head and kept beside it."""
    path = Path(run_dir) / VIEW_HEADS_FILE
    if path.is_file():
        state = load_checkpoint(path)  # a cache: refitted when stale or written by an older hwnas
        if {"heads", "bases", "effects", "step"} <= set(state) and state["step"] == step:
            return ViewHeads.from_state(state)
    train = data.indices("train")
    heads = fit_view_heads(net, (data.batch(train[i : i + 256])["views"] for i in range(0, len(train), 256)))
    save_checkpoint(path, {**heads.state(), "step": step})
    return heads


def load_early_head(run_dir: Path) -> EarlyHead | None:
    """The head `hwnas latex` fitted for this run, if any."""
    path = Path(run_dir) / HEAD_FILE
    return _read_head(path)[0] if path.is_file() else None


def load_view_heads(run_dir: Path) -> ViewHeads | None:
    """The per-view heads `hwnas latex --granularity view` fitted for this run, if any."""
    path = Path(run_dir) / VIEW_HEADS_FILE
    return ViewHeads.from_state(load_checkpoint(path, ("heads", "bases", "effects"))) if path.is_file() else None


# ---- streams --------------------------------------------------------------------------------------------


@dataclass
class EncodedClip:
    """One video's frames as the stream sees them: the head's codes, the encoder's outputs on every frame (read
    only on key frames), the targets, and the video's key events."""

    batch: dict[str, torch.Tensor]
    early: torch.Tensor | dict[str, torch.Tensor]  # the frame head's codes, or per view its head's
    encoded: dict[str, torch.Tensor]
    events: tuple[Event, ...] = ()
    parts: dict[str, torch.Tensor] = field(default_factory=dict)  # per view the encoder's part (view heads)
    estimates: dict[str, torch.Tensor] = field(default_factory=dict)  # per view the head's estimate of it


@torch.no_grad()
def encode_clip(
    net: nn.Module, head: EarlyHead | ViewHeads, data: AvatarData, idx: torch.Tensor, events=()
) -> EncodedClip:
    b = data.batch(idx)
    inputs = net.inputs_of(b["views"])
    if isinstance(head, ViewHeads):
        stems = net.view_stems(inputs)
        parts, codes = net.view_parts(stems), head(stems)
        estimates = {v: head.in_part(v, c) for v, c in codes.items()}
        return EncodedClip(b, head.decision(codes), dict(net.fuse(parts)), tuple(events), parts, estimates)
    early = head(tapped_maps(net, inputs))
    return EncodedClip(b, early, dict(net.encode(inputs)), tuple(events))


def clip_streamer(net: nn.Module, head: EarlyHead | ViewHeads):
    """``(clip, policy) -> (outputs, key mask (frames, decisions))``: one decision per frame with the frame
    head, one per view with view heads."""

    @torch.no_grad()
    def frames(clip: EncodedClip, policy: LatexPolicy):
        out, keys = run_stream(clip.early, lambda t: {k: v[t] for k, v in clip.encoded.items()}, policy)
        return out, keys[:, None]

    @torch.no_grad()
    def views(clip: EncodedClip, policy: LatexPolicy):
        parts, keys = run_view_stream(clip.early, clip.parts, policy, clip.estimates)
        return net.fuse(parts), keys

    return views if isinstance(head, ViewHeads) else frames


def video_clips(net: nn.Module, head: EarlyHead | ViewHeads, videos: VideoSet) -> list[EncodedClip]:
    """Each video of the set as a clip, with its key events."""
    return [
        encode_clip(net, head, videos.data, torch.tensor(list(videos.frames(i))), videos.events[i])
        for i in range(len(videos.starts))
    ]


def event_mask(events: tuple[Event, ...], n: int, kinds: tuple[str, ...] | None = None) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    for e in events:
        if kinds is None or e.kind in kinds:
            mask[e.start : e.start + e.length] = True
    return mask


@torch.no_grad()
def stream_clips(clips: list[EncodedClip], policy: LatexPolicy, loss: AvatarLoss, streamer) -> dict[str, Any]:
    """Every clip through a stream: skip ratio (of the decisions: frames, or views of frames), the key rate per
    decision, render MSE against the truth (per direction) and against always-encode, on the event frames, on
    winks, and whether each event got a key frame (a view of it counts)."""
    per_view: dict[str, list[torch.Tensor]] = {}
    vs_always, keys_all, events_all, winks_all, frames = [], [], [], [], []
    covered: dict[str, list[bool]] = {}
    for clip in clips:
        out, keys = streamer(clip, policy)
        for view, mse in frame_mse(loss, out, clip.batch).items():
            per_view.setdefault(view, []).append(mse)
        always = {"z": clip.encoded["z"], "g": clip.encoded["g"], "appearance": clip.batch["appearance"]}
        vs_always.append(torch.stack(list(frame_mse(loss, out, always).values())).mean(0))
        n = len(keys)
        keys_all.append(keys)
        events_all.append(event_mask(clip.events, n))
        winks_all.append(event_mask(clip.events, n, ("wink",)))
        for e in clip.events:
            covered.setdefault(e.kind, []).append(bool(keys[e.start : e.start + e.length].any()))
        frames.append(torch.stack([v[-1] for v in per_view.values()]).mean(0).numpy())
    mse = {view: torch.cat(values).numpy() for view, values in per_view.items()}
    mean = np.mean(list(mse.values()), axis=0)
    by_decision = np.concatenate(keys_all)
    keys, in_event, in_wink = by_decision.any(1), np.concatenate(events_all), np.concatenate(winks_all)
    return {
        "skip_ratio": float(1 - by_decision.mean()),
        "key_rates": [float(r) for r in by_decision.mean(0)],
        **{view: float(v.mean()) for view, v in mse.items()},
        "mean": float(mean.mean()),
        "vs_always_encode": float(torch.cat(vs_always).mean()),
        "events": float(mean[in_event].mean()) if in_event.any() else None,
        "winks": float(mean[in_wink].mean()) if in_wink.any() else None,
        "key_rate_in_events": float(by_decision[in_event].mean()) if in_event.any() else None,
        "key_rate_elsewhere": float(by_decision[~in_event].mean()) if (~in_event).any() else None,
        "events_with_key_frame": {kind: float(np.mean(v)) for kind, v in sorted(covered.items())},
        "_frames": frames,  # per clip, per frame mean render MSE (for the plot; not written)
    }


@torch.no_grad()
def linearity(clips: list[EncodedClip], loss: AvatarLoss, window: int = LINEARITY_WINDOW) -> dict[str, Any]:
    """Sec. 4.3.1: inside windows of ``window`` + 1 frames, the inner frames' outputs interpolated between the
    window's end frames — from the encoder's outputs and from the true codes — against encoding every frame."""
    sums = {"always_encode": [], "interpolated_encoder": [], "interpolated_truth": []}
    first = {}
    for c, clip in enumerate(clips):
        n = len(clip.batch["z"])
        series = {k: torch.zeros(n) for k in sums}
        truth = {"z": clip.batch["z"], "g": clip.batch["g"]}
        covered = torch.zeros(n, dtype=torch.bool)
        for start in range(0, n - window, window):
            inner = slice(start + 1, start + window)
            covered[inner] = True
            b = {k: v[inner] for k, v in clip.batch.items() if k in ("z", "g", "appearance")}
            for name, source in (("always_encode", None), ("interpolated_encoder", clip.encoded),
                                 ("interpolated_truth", truth)):  # fmt: skip
                if source is None:
                    pred = {k: clip.encoded[k][inner] for k in ("z", "g")}
                else:
                    path = interpolate({k: source[k][start] for k in ("z", "g")},
                                       {k: source[k][start + window] for k in ("z", "g")}, window)[1:-1]  # fmt: skip
                    pred = {k: torch.stack([p[k] for p in path]) for k in ("z", "g")}
                series[name][inner] = torch.stack(list(frame_mse(loss, pred, b).values())).mean(0)
        for k in sums:
            sums[k].append(series[k][covered])
        if c == 0:
            first = {k: torch.where(covered, v, torch.nan).numpy() for k, v in series.items()}
    return {"window": window, **{k: float(torch.cat(v).mean()) for k, v in sums.items()}, "_first": first}


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
