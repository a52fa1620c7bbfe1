"""Held-out videos streamed through LATEX: each clip encoded once, then replayed under each policy, scored by
render MSE against the truth and against encoding every frame; and Sec. 4.3.1's linearity check."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from hwnas.apps.avatar.data import AvatarData, VideoSet
from hwnas.apps.avatar.evaluate import frame_mse
from hwnas.apps.avatar.expressions import Event
from hwnas.apps.avatar.latex.early_head import EarlyHead, tapped_maps
from hwnas.apps.avatar.latex.extrapolation import LatexPolicy, interpolate, run_stream, run_view_stream
from hwnas.apps.avatar.latex.view_heads import ViewHeads
from hwnas.apps.avatar.losses import AvatarLoss

LINEARITY_WINDOW = 8  # Sec. 4.3.1's T


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
