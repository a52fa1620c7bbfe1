"""Expression parameters, identities, and the procedural expression trajectories of the synthetic HMC data.

An expression is a vector of ``N_PARAMS`` numbers (layout in ``PARAM_NAMES``). In training videos the eyes
move together (one shared gaze, blinks on both lids): the cross-view correlation a searched encoder can
exploit. The extreme subset holds what training almost never shows: winks, diverging and rare gazes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PARAM_NAMES = (
    "gaze_l_yaw",
    "gaze_l_pitch",
    "gaze_r_yaw",
    "gaze_r_pitch",
    "lid_l",
    "lid_r",
    "brow_l",
    "brow_r",
    "jaw",
    "smile",
    "pucker",
)
N_PARAMS = len(PARAM_NAMES)
GAZE = slice(0, 4)  # the gaze g: (left yaw, left pitch, right yaw, right pitch)
GAZE_RANGE = 0.55  # typical |yaw| in training; the extreme subset looks beyond it
WINK_RATE_IN_TRAINING = 0.0015  # probability that a training frame starts a wink
BLINK_FRAMES, WINK_FRAMES, MOUTH_FRAMES = 6, 10, 14  # how long each event lasts


@dataclass(frozen=True)
class Identity:
    """Appearance of one synthetic person and the pose of their headset cameras."""

    index: int
    eye_width: float
    eye_height: float
    iris_radius: float
    skin: float
    sclera: float
    iris: float
    lips: float
    camera: np.ndarray  # (3 views, 4): dx, dy, rotation (rad), scale

    @classmethod
    def sample(cls, index: int, seed: int) -> Identity:
        rng = np.random.default_rng([seed, index, 17])
        camera = np.stack(
            [
                rng.uniform(-0.08, 0.08, 3),
                rng.uniform(-0.08, 0.08, 3),
                rng.uniform(-0.12, 0.12, 3),
                rng.uniform(0.9, 1.1, 3),
            ],
            axis=1,
        )
        return cls(
            index=index,
            eye_width=float(rng.uniform(0.62, 0.78)),
            eye_height=float(rng.uniform(0.30, 0.42)),
            iris_radius=float(rng.uniform(0.15, 0.22)),
            skin=float(rng.uniform(0.45, 0.7)),
            sclera=float(rng.uniform(0.82, 0.95)),
            iris=float(rng.uniform(0.12, 0.35)),
            lips=float(rng.uniform(0.25, 0.45)),
            camera=camera.astype(np.float32),
        )

    def appearance(self) -> np.ndarray:
        """The identity's fixed appearance vector, as the decoder consumes it."""
        return np.array(
            [self.eye_width, self.eye_height, self.iris_radius, self.skin, self.sclera, self.iris, self.lips],
            dtype=np.float32,
        )


N_APPEARANCE = 7


def _ar1(rng: np.random.Generator, n: int, rho: float, sigma: float) -> np.ndarray:
    x = np.zeros(n)
    noise = rng.normal(0, sigma, n)
    for t in range(1, n):
        x[t] = rho * x[t - 1] + noise[t]
    return x


def _pulse(n: int, starts: np.ndarray, length: int) -> np.ndarray:
    """1 during events of ``length`` frames with smooth (cosine) edges, else 0."""
    out = np.zeros(n)
    shape = np.sin(np.linspace(0, np.pi, length)) ** 0.5
    for s in starts:
        seg = slice(s, min(n, s + length))
        out[seg] = np.maximum(out[seg], shape[: seg.stop - seg.start])
    return out


@dataclass(frozen=True)
class Event:
    """A key event of a video: where the expression changes faster than smooth motion would."""

    kind: str  # saccade, blink, wink, mouth
    start: int
    length: int


@dataclass(frozen=True)
class Video:
    params: np.ndarray  # (n, N_PARAMS)
    events: tuple[Event, ...]


def video(rng: np.random.Generator, n: int, wink_rate: float = WINK_RATE_IN_TRAINING) -> Video:
    """Smooth motion with saccades, blinks, winks and mouth openings, and where each of them happens; both
    eyes move together (but for winks)."""
    p = np.zeros((n, N_PARAMS))
    # gaze: fixations that jump (saccades), plus slow drift; the two eyes share it up to small vergence noise
    target = np.zeros((n, 2))
    jumps = np.flatnonzero(rng.random(n) < 0.04)
    current = rng.normal(0, GAZE_RANGE / 2, 2)
    last = 0
    for j in [*jumps, n]:
        target[last:j] = current
        current = np.clip(rng.normal(0, GAZE_RANGE / 2, 2), -GAZE_RANGE, GAZE_RANGE) * [1.0, 0.7]
        last = j
    drift = np.stack([_ar1(rng, n, 0.97, 0.01), _ar1(rng, n, 0.97, 0.01)], axis=1)
    gaze = target + drift
    p[:, 0:2] = gaze + rng.normal(0, 0.01, (n, 2))
    p[:, 2:4] = gaze + rng.normal(0, 0.01, (n, 2))
    # lids: open with slow variation; blinks close both eyes together
    openness = np.clip(0.85 + _ar1(rng, n, 0.98, 0.02), 0.55, 1.0)
    blinks = np.flatnonzero(rng.random(n) < 0.02)
    blink = _pulse(n, blinks, BLINK_FRAMES)
    p[:, 4] = openness * (1 - blink)
    p[:, 5] = openness * (1 - blink) + rng.normal(0, 0.01, n)
    # winks: one eye closes, the other stays open
    winks = np.flatnonzero(rng.random(n) < wink_rate)
    for s in winks:
        eye = 4 + int(rng.integers(0, 2))
        p[:, eye] *= 1 - _pulse(n, np.array([s]), WINK_FRAMES)
    brows = 0.5 * _ar1(rng, n, 0.98, 0.03)
    p[:, 6] = brows
    p[:, 7] = brows + rng.normal(0, 0.02, n)
    mouths = np.flatnonzero(rng.random(n) < 0.015)
    mouth = _pulse(n, mouths, MOUTH_FRAMES)
    p[:, 8] = np.clip(0.1 + 0.8 * mouth + _ar1(rng, n, 0.95, 0.03), 0, 1)
    p[:, 9] = np.clip(_ar1(rng, n, 0.98, 0.04), -0.6, 0.8)
    p[:, 10] = np.clip(_ar1(rng, n, 0.98, 0.04), -0.2, 0.8)
    events = [Event("saccade", int(s), 1) for s in jumps]
    events += [Event("blink", int(s), min(BLINK_FRAMES, n - s)) for s in blinks]
    events += [Event("wink", int(s), min(WINK_FRAMES, n - s)) for s in winks]
    events += [Event("mouth", int(s), min(MOUTH_FRAMES, n - s)) for s in mouths]
    return Video(p.astype(np.float32), tuple(sorted(events, key=lambda e: (e.start, e.kind))))


def training_video(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, N_PARAMS): the parameters of a ``video`` with the training split's wink rate."""
    return video(rng, n).params


def extreme_frames(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, N_PARAMS): asymmetric and rare expressions — winks, diverging gazes, gazes beyond the training
    range — the regime where a view-collapsed encoder fails."""
    p = training_video(rng, n)
    kind = rng.integers(0, 3, n)
    for i in range(n):
        if kind[i] == 0:  # wink: one eye shut, the other wide open
            closed = int(rng.integers(0, 2))
            p[i, 4 + closed] = rng.uniform(0.0, 0.1)
            p[i, 5 - closed] = rng.uniform(0.85, 1.0)
        elif kind[i] == 1:  # rare gaze: far beyond the training range, both eyes
            yaw = rng.choice([-1, 1]) * rng.uniform(0.7, 0.95)
            pitch = rng.uniform(-0.6, 0.6)
            p[i, 0:4] = [yaw, pitch, yaw, pitch]
        else:  # diverging gaze: the eyes look different ways
            p[i, 0] = rng.uniform(-0.8, -0.45)
            p[i, 2] = rng.uniform(0.45, 0.8)
            p[i, 1], p[i, 3] = rng.uniform(-0.4, 0.4, 2)
    return p.astype(np.float32)


def asymmetry(params: np.ndarray) -> np.ndarray:
    """Per frame: how differently the two eyes behave (lid difference + gaze difference)."""
    return np.abs(params[:, 4] - params[:, 5]) + np.linalg.norm(params[:, 0:2] - params[:, 2:4], axis=1)


def gaze_rareness(params: np.ndarray) -> np.ndarray:
    return np.abs(params[:, GAZE]).max(axis=1)
