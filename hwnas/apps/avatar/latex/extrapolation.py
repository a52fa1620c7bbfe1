"""LATEX's decision and extrapolation (Auto-CARD, Sec. 4.3): skip the encoder on frames the early head calls
redundant, and derive their outputs from the previous frames' instead.

Our reading of the paper's formula z_t = z̄_{t-1} + (z_{t-1} - z̄_{t-T}) / (T - 1): z̄ is the code the stream
settled on for a frame (encoded or itself extrapolated), so a skipped frame continues the straight line through
the last T codes: ``z_t = z_{t-1} + (z_{t-1} - z_{t-T}) / (T - 1)`` — the mean step over the window, taken once
more (``EXTRAPOLATIONS["linear"]``). Every output of the encoder (for the avatar: z, gaze g, key points y) is
extrapolated the same way. ``"hold"`` repeats the previous frame's outputs (the zeroth-order extrapolation).

The decision compares the head's code of this frame with a reference code of the head's (both are the head's,
so its bias cancels): the previous frame's, as the paper words it (``DECISIONS["previous"]``), or the last key
frame's (``"last-key"``), which also catches a slow change that no single frame-to-frame step shows. A
root-mean-square difference below the threshold skips the encoder; at or above it — and on the first T frames
of a stream — the encoder runs. Threshold 0 therefore always encodes. Which pair works best is measured, not
assumed: docs/latex.md.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import numpy as np
import torch

Outputs = Mapping[str, torch.Tensor]


def extrapolate(history: list[Outputs]) -> dict[str, torch.Tensor]:
    """The next frame's outputs from the last T (= len(history) >= 2) frames' outputs, oldest first."""
    if len(history) < 2:
        raise ValueError("extrapolation needs the outputs of at least two previous frames")
    span = len(history) - 1
    first, last = history[0], history[-1]
    return {k: last[k] + (last[k] - first[k]) / span for k in last}


def interpolate(start: Outputs, end: Outputs, steps: int) -> list[dict[str, torch.Tensor]]:
    """Sec. 4.3.1's linearity check: frames 0..steps with z_t = (T - t)/T · z_0 + t/T · z_T (T = ``steps``)."""
    return [{k: (steps - t) / steps * start[k] + t / steps * end[k] for k in start} for t in range(steps + 1)]


def code_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Root-mean-square difference of two early codes."""
    return float((a - b).pow(2).mean().sqrt())


def hold(history: list[Outputs]) -> dict[str, torch.Tensor]:
    """The previous frame's outputs again."""
    return dict(history[-1])


EXTRAPOLATIONS: dict[str, Callable[[list[Outputs]], dict[str, torch.Tensor]]] = {"linear": extrapolate, "hold": hold}
DECISIONS = ("previous", "last-key")


@dataclass(frozen=True)
class LatexPolicy:
    """How a stream decides and fills in: the threshold on the early code's RMS difference, the window T, the
    decision's reference frame and the extrapolation; per view, the gain with which a held part follows the
    head's estimate of its change (``run_view_stream``)."""

    threshold: float
    window: int = 8
    decision: str = "last-key"
    extrapolation: str = "hold"
    gain: float = 0.0

    def __post_init__(self):
        if self.window < 2:
            raise ValueError(f"the extrapolation window T must be at least 2 frames, not {self.window}")
        if not self.threshold >= 0:
            raise ValueError(f"the threshold must be a non-negative number, not {self.threshold}")
        if not 0 <= self.gain <= 1:
            raise ValueError(f"the gain must lie in [0, 1], not {self.gain}")
        if self.decision not in DECISIONS or self.extrapolation not in EXTRAPOLATIONS:
            raise ValueError(f"unknown decision {self.decision!r} or extrapolation {self.extrapolation!r}")


class LatexStream:
    """One camera stream: feed it each frame's early code and a way to run the encoder on that frame."""

    def __init__(self, policy: LatexPolicy):
        self.policy = policy
        self.history: deque[Outputs] = deque(maxlen=policy.window)
        self.reference: torch.Tensor | None = None  # the head's code the next frame is compared with

    def step(self, early: torch.Tensor, encode: Callable[[], Outputs]) -> tuple[Outputs, bool]:
        """This frame's outputs, and whether it was a key frame (the encoder ran)."""
        p = self.policy
        key = len(self.history) < p.window or code_distance(early, self.reference) >= p.threshold
        out = dict(encode()) if key else EXTRAPOLATIONS[p.extrapolation](list(self.history))
        self.history.append(out)
        if key or p.decision == "previous":
            self.reference = early
        return out, key


def key_frames(early: torch.Tensor, policy: LatexPolicy) -> np.ndarray:
    """The key-frame mask of one video (the decisions need only the head's codes)."""
    return run_stream(early, lambda t: {}, policy)[1]


def run_stream(
    early: torch.Tensor, encode: Callable[[int], Outputs], policy: LatexPolicy
) -> tuple[dict[str, torch.Tensor], np.ndarray]:
    """A whole video through one stream: per frame its outputs (stacked) and a key-frame mask."""
    stream = LatexStream(policy)
    frames, keys = [], []
    for t in range(len(early)):
        out, key = stream.step(early[t], lambda t=t: encode(t))
        frames.append(out)
        keys.append(key)
    return {k: torch.stack([f[k] for f in frames]) for k in frames[0]}, np.array(keys)


def run_view_stream(
    early: Mapping[str, torch.Tensor],
    parts: Mapping[str, torch.Tensor],
    policy: LatexPolicy,
    estimates: Mapping[str, torch.Tensor] | None = None,
) -> tuple[dict[str, torch.Tensor], np.ndarray]:
    """A whole video with a decision per view (deploy/view_heads.py): each view is a stream of its own, of its
    head's codes ``early[view]`` and its part of the encoder ``parts[view]`` (read only on the view's key
    frames). With ``estimates`` (per view the head's estimate of its part on every frame, up to a constant) a
    held part moves by ``policy.gain`` times the estimate's change since the key frame. Returns every frame's
    parts as the streams settled them (``net.fuse`` makes the outputs) and a (frames, views) key mask."""
    settled, keys = {}, []
    for view, codes in early.items():
        out, view_keys = run_stream(codes, lambda t, v=view: {"part": parts[v][t]}, policy)
        settled[view] = out["part"]
        if estimates is not None and policy.gain:
            settled[view] = settled[view] + policy.gain * since_key(estimates[view], view_keys)
        keys.append(view_keys)
    return settled, np.stack(keys, 1)


def since_key(values: torch.Tensor, keys: np.ndarray) -> torch.Tensor:
    """Each frame's value minus the value at the last key frame up to it (zero on key frames; the first frame
    is a key frame)."""
    last = np.maximum.accumulate(np.where(keys, np.arange(len(keys)), 0))
    return values - values[torch.from_numpy(last)]


def bisect_threshold(skipped: Callable[[float], float], ratio: float, high: float, steps: int = 40) -> float:
    """The threshold at which ``skipped(threshold)`` (growing with it) reaches ``ratio``, by bisection on
    [0, high]."""
    if ratio <= 0:
        return 0.0
    low = 0.0
    for _ in range(steps):
        mid = (low + high) / 2
        low, high = (mid, high) if skipped(mid) < ratio else (low, mid)
    return high


def threshold_for_skip_ratio(videos: list[torch.Tensor], ratio: float, policy: LatexPolicy) -> float:
    """The threshold at which ``policy`` skips ``ratio`` of the frames of ``videos`` (the head's codes of
    calibration videos)."""

    def skipped(threshold: float) -> float:
        keys = np.concatenate([key_frames(v, replace(policy, threshold=threshold)) for v in videos])
        return 1 - keys.mean()

    steps = np.concatenate([(v[1:] - v[:-1]).pow(2).mean(1).sqrt().numpy() for v in videos])
    return bisect_threshold(skipped, ratio, float(steps.max()) * len(max(videos, key=len)) + 1e-12)
