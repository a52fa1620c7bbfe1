"""Avatar-task data: the synthetic HMC benchmark (embedded default) and bring-your-own npz files.

Both become an ``AvatarData``: three grayscale views per frame, the targets z / g / y, the identity of each
frame, its split (train / test / extreme) and the identities' appearance vectors the decoder is conditioned on.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from hwnas.apps.avatar.decoder import keypoints, latent_map
from hwnas.apps.avatar.expressions import (
    GAZE,
    N_APPEARANCE,
    N_PARAMS,
    Event,
    Identity,
    extreme_frames,
    training_video,
    video,
)
from hwnas.apps.avatar.hmc import VIEWS, render_hmc
from hwnas.core.errors import HwnasError
from hwnas.space.network import ViewPyramid

SPLITS = ("train", "test", "extreme")


@dataclass(frozen=True)
class TaskPreset:
    name: str
    view_res: int  # HMC view size the heavy baseline consumes (the space's largest resolution)
    native_res: tuple[int, ...]  # the space's smaller resolutions, each rendered natively too
    render_size: int  # avatar image size for the render loss and MSE
    identities: int
    train_videos: int  # per identity
    frames_per_video: int
    test_frames: int  # per identity, a held-out video
    extreme_frames: int  # per identity
    latent_dim: int
    keypoints: int  # numbers per eye
    steps: int  # default training steps
    batch: int


TASK_PRESETS = {
    "tiny": TaskPreset("tiny", 24, (16,), 24, 2, 2, 60, 40, 24, 16, 8, 40, 32),
    "small": TaskPreset("small", 80, (48, 64), 48, 4, 3, 300, 200, 100, 64, 16, 1200, 48),
    "paper": TaskPreset("paper", 192, (128, 160), 128, 10, 6, 600, 400, 200, 256, 40, 20000, 64),
}


def task_preset(name: str) -> TaskPreset:
    if name not in TASK_PRESETS:
        raise HwnasError(f"unknown preset {name!r} for the avatar task; known: {', '.join(TASK_PRESETS)}")
    return TASK_PRESETS[name]


@dataclass
class AvatarData:
    views: torch.Tensor  # (N, 3, R, R) uint8: left eye, right eye, mouth
    z: torch.Tensor  # (N, latent_dim)
    g: torch.Tensor  # (N, 4)
    y: torch.Tensor  # (N, 2 * keypoints)
    identity: torch.Tensor  # (N,) long
    split: torch.Tensor  # (N,) long, index into SPLITS
    appearance: torch.Tensor  # (n_identities, N_APPEARANCE)
    params: torch.Tensor | None = None  # (N, N_PARAMS) for synthetic data
    native: dict[int, torch.Tensor] = field(default_factory=dict)  # the same frames at smaller resolutions

    def __len__(self) -> int:
        return len(self.z)

    def indices(self, split: str) -> torch.Tensor:
        return torch.nonzero(self.split == SPLITS.index(split)).squeeze(1)

    def batch(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        views = self.views[idx].float() / 255.0
        if self.native:
            views = ViewPyramid(
                {self.views.shape[-1]: views, **{r: v[idx].float() / 255.0 for r, v in self.native.items()}}
            )
        return {
            "views": views,
            "z": self.z[idx],
            "g": self.g[idx],
            "y": self.y[idx],
            "appearance": self.appearance[self.identity[idx]],
            "identity": self.identity[idx],
        }


def synthesize(preset: TaskPreset, seed: int = 0) -> AvatarData:
    """Deterministic by seed: the same preset and seed give bit-identical data."""
    params, ident, split = [], [], []
    identities = [Identity.sample(i, seed) for i in range(preset.identities)]
    for person in identities:
        rng = np.random.default_rng([seed, person.index])
        parts = [(training_video(rng, preset.frames_per_video), 0) for _ in range(preset.train_videos)]
        parts += [(training_video(rng, preset.test_frames), 1), (extreme_frames(rng, preset.extreme_frames), 2)]
        for frames, split_index in parts:
            params.append(frames)
            split.append(np.full(len(frames), split_index))
            ident.append(np.full(len(frames), person.index))
    return _render(preset, identities, np.concatenate(params), np.concatenate(ident), np.concatenate(split), seed)


@dataclass(frozen=True)
class VideoSet:
    """Held-out videos, one per identity, as one AvatarData (split ``test``) whose frames are in time order;
    ``starts[i]`` is the first frame of identity i's video, ``events[i]`` its key events (frame numbers
    relative to that start)."""

    data: AvatarData
    starts: tuple[int, ...]
    events: tuple[tuple[Event, ...], ...]

    def frames(self, video: int) -> range:
        end = self.starts[video + 1] if video + 1 < len(self.starts) else len(self.data)
        return range(self.starts[video], end)


VIDEO_SEED_OFFSET = 7919  # held-out videos never share a random stream with the training data


def synthesize_videos(
    preset: TaskPreset, seed: int = 0, frames: int = 300, wink_rate: float = 0.006, stream: int = 0
) -> VideoSet:
    """One new video per identity of the seed's data (same people, same cameras), with more winks than
    training shows: the key events a frame-skipping encoder must not smooth over. Another ``stream`` number
    gives other videos of the same people (e.g. to calibrate on, apart from those evaluated on)."""
    identities = [Identity.sample(i, seed) for i in range(preset.identities)]
    params, ident, events = [], [], []
    for person in identities:
        clip = video(np.random.default_rng([seed + VIDEO_SEED_OFFSET, stream, person.index]), frames, wink_rate)
        params.append(clip.params)
        ident.append(np.full(frames, person.index))
        events.append(clip.events)
    split = np.full(frames * len(identities), SPLITS.index("test"))
    noise_seed = (seed + VIDEO_SEED_OFFSET) * 1000 + stream
    data = _render(preset, identities, np.concatenate(params), np.concatenate(ident), split, noise_seed)
    return VideoSet(data, tuple(range(0, len(data), frames)), tuple(events))


def _render(
    preset: TaskPreset, identities: list[Identity], params: np.ndarray, ident: np.ndarray, split: np.ndarray, seed: int
) -> AvatarData:
    """Views at every resolution of the preset, and the targets, of expression parameters."""
    p = torch.tensor(params)
    identity = torch.tensor(ident, dtype=torch.long)
    appearance = torch.tensor(np.stack([person.appearance() for person in identities]))
    cameras = torch.tensor(np.stack([person.camera for person in identities]))
    generator = torch.Generator().manual_seed(seed)
    views = {r: torch.empty(len(p), 3, r, r, dtype=torch.uint8) for r in (preset.view_res, *preset.native_res)}
    for start in range(0, len(p), 512):
        sl = slice(start, start + 512)
        state = generator.get_state()  # every resolution sees the same pose jitter, lighting and noise seed
        for res, out in views.items():
            generator.set_state(state)
            rendered = render_hmc(p[sl], appearance[identity[sl]], cameras[identity[sl]], res, generator)
            out[sl] = torch.cat([rendered[v] for v in VIEWS], 1).mul(255).round().to(torch.uint8)
    z = p @ latent_map(preset.latent_dim).T
    y = keypoints(p, appearance[identity], preset.keypoints)
    largest = views.pop(preset.view_res)
    return AvatarData(largest, z, p[:, GAZE].clone(), y, identity, torch.tensor(split), appearance, p, views)


# ---- bring your own data ---------------------------------------------------------------------------------
BYO_REQUIRED = ("left_eye", "right_eye", "mouth", "z", "g", "y")


def load_npz(path: Path) -> AvatarData:
    """Load HMC frames with their codes from an npz file (format in docs/avatar-data.md)."""
    path = Path(path)
    if not path.is_file():
        raise HwnasError(f"data file {path} does not exist")
    try:
        archive = np.load(path, allow_pickle=False)
        f = {key: archive[key] for key in archive.files}  # read now: an object array fails here, not later
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        hint = " (object arrays are not accepted; store numbers or strings)" if "allow_pickle" in str(exc) else ""
        raise HwnasError(f"data file {path} is not a readable npz archive{hint} ({exc})") from None
    missing = [k for k in BYO_REQUIRED if k not in f]
    if missing:
        raise HwnasError(f"data file {path} lacks array(s) {', '.join(missing)}; required: {', '.join(BYO_REQUIRED)}")
    views = [f[k] for k in VIEWS]
    for k, v in zip(VIEWS, views, strict=True):
        if v.ndim != 3 or v.shape[1] != v.shape[2]:
            raise HwnasError(f"data file {path}: {k} must be (N, R, R) square frames, got shape {v.shape}")
        if v.shape != views[0].shape:
            raise HwnasError(f"data file {path}: {k} is {v.shape}, left_eye {views[0].shape}; all views alike")
    n = len(views[0])
    if views[0].dtype != np.uint8:
        if not all(
            np.issubdtype(v.dtype, np.floating) and np.isfinite(v).all() and v.min() >= 0 and v.max() <= 1
            for v in views
        ):
            raise HwnasError(f"data file {path}: views must be uint8 or floats in [0, 1]")
        views = [np.round(v * 255).astype(np.uint8) for v in views]
    arrays = {}
    for key, width in (("z", None), ("g", 4), ("y", None)):
        a = f[key]
        expect = f"(N={n}, {width if width else 'D'})"
        if not np.issubdtype(a.dtype, np.number) or a.ndim != 2 or len(a) != n or (width and a.shape[1] != width):
            raise HwnasError(f"data file {path}: {key} must be a numeric {expect} array, got {a.dtype} {a.shape}")
        if not np.isfinite(a).all():
            raise HwnasError(f"data file {path}: {key} holds NaN or infinite values; every value must be finite")
        arrays[key] = torch.tensor(a, dtype=torch.float32)
    if arrays["z"].shape[1] < N_PARAMS:
        raise HwnasError(
            f"data file {path}: z has {arrays['z'].shape[1]} dimensions; the avatar decoder needs at least {N_PARAMS}"
        )
    if arrays["y"].shape[1] % 2:
        raise HwnasError(f"data file {path}: y must hold 2K numbers per frame (K per eye), got {arrays['y'].shape[1]}")
    raw_identity = f.get("identity", np.zeros(n, dtype=np.int64))
    if not np.issubdtype(raw_identity.dtype, np.integer) or raw_identity.shape != (n,):
        raise HwnasError(
            f"data file {path}: identity must be N={n} integers, got {raw_identity.dtype} {raw_identity.shape}"
        )
    identity = torch.tensor(raw_identity, dtype=torch.long)
    if len(identity) != n or identity.min() < 0:
        raise HwnasError(f"data file {path}: identity must be N={n} non-negative integers")
    split = np.asarray(f["split"]) if "split" in f else np.array(["train"] * n)
    unknown = set(split.tolist()) - set(SPLITS)
    if len(split) != n or unknown:
        raise HwnasError(f"data file {path}: split must be N={n} strings from {', '.join(SPLITS)}")
    n_ids = int(identity.max()) + 1
    if "appearance" in f:
        if not np.issubdtype(f["appearance"].dtype, np.floating) or not np.isfinite(f["appearance"]).all():
            raise HwnasError(f"data file {path}: appearance must hold finite floats")
        appearance = torch.tensor(f["appearance"], dtype=torch.float32)
        if appearance.shape != (n_ids, N_APPEARANCE):
            raise HwnasError(f"data file {path}: appearance must be ({n_ids}, {N_APPEARANCE}), got {appearance.shape}")
    else:
        appearance = torch.tensor(Identity.sample(0, 0).appearance()).expand(n_ids, -1).clone()
    return AvatarData(
        views=torch.tensor(np.stack(views, 1)),
        z=arrays["z"],
        g=arrays["g"],
        y=arrays["y"],
        identity=identity,
        split=torch.tensor([SPLITS.index(s) for s in split.tolist()], dtype=torch.long),
        appearance=appearance,
    )


def save_npz(data: AvatarData, path: Path) -> None:
    """Write data in the bring-your-own format (useful to cache synthetic data or as an example)."""
    np.savez_compressed(
        path,
        **{v: data.views[:, i].numpy() for i, v in enumerate(VIEWS)},
        z=data.z.numpy(),
        g=data.g.numpy(),
        y=data.y.numpy(),
        identity=data.identity.numpy(),
        split=np.array([SPLITS[i] for i in data.split.tolist()]),
        appearance=data.appearance.numpy(),
    )
