"""Procedural headset-camera (HMC) views: grayscale, IR-like left-eye, right-eye and mouth images.

Everything is a smooth function of the expression parameters and the identity, drawn on a pixel grid with
soft (sigmoid) edges, then camera pose and per-frame jitter, illumination gradients and sensor noise.
"""

from __future__ import annotations

import torch

VIEWS = ("left_eye", "right_eye", "mouth")


def _grid(n: int, res: int, camera: torch.Tensor, jitter: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel coordinates in [-1, 1] seen through a camera with pose (dx, dy, rot, scale) plus jitter (dx, dy)."""
    lin = torch.linspace(-1, 1, res)
    v, u = torch.meshgrid(-lin, lin, indexing="ij")
    u, v = u.expand(n, res, res), v.expand(n, res, res)
    dx, dy, rot, scale = (camera[:, i, None, None] for i in range(4))
    dx, dy = dx + jitter[:, 0, None, None], dy + jitter[:, 1, None, None]
    c, s = torch.cos(rot), torch.sin(rot)
    x = (c * u - s * v) / scale + dx
    y = (s * u + c * v) / scale + dy
    return x, y


def _soft(d: torch.Tensor, sharpness: float) -> torch.Tensor:
    return torch.sigmoid(d * sharpness)


def eye_image(x, y, yaw, pitch, lid, brow, app, sharp: float) -> torch.Tensor:
    """One eye: skin, brow, almond aperture whose upper lid follows ``lid``, sclera, iris and pupil."""
    ew, eh, ir = (app[:, i, None, None] for i in range(3))
    skin, sclera, iris = (app[:, i, None, None] for i in (3, 4, 5))
    lid, yaw, pitch, brow = (t[:, None, None] for t in (lid, yaw, pitch, brow))
    across = (1 - (x / ew) ** 2).clamp(min=0)
    upper = eh * (0.15 + 0.85 * lid) * across
    lower = -0.45 * eh * across
    aperture = _soft(upper - y, sharp) * _soft(y - lower, sharp) * _soft(ew - x.abs(), sharp)
    cx, cy = 0.55 * ew * yaw, 0.6 * eh * pitch
    dist = torch.sqrt((x - cx) ** 2 + (y - cy) ** 2 + 1e-8)
    iris_mask = _soft(ir - dist, sharp)
    pupil = _soft(0.45 * ir - dist, sharp)
    brow_y = eh * 1.35 + 0.18 * brow
    brow_mask = _soft(0.07 - (y - brow_y).abs(), sharp) * _soft(ew * 1.05 - x.abs(), sharp)
    face = skin * (1 - 0.6 * brow_mask)
    eyeball = sclera * (1 - iris_mask) + iris_mask * (iris * (1 - pupil) + 0.03 * pupil)
    return face * (1 - aperture) + aperture * eyeball


def mouth_image(x, y, jaw, smile, pucker, app, sharp: float) -> torch.Tensor:
    skin, lips = app[:, 3, None, None], app[:, 6, None, None]
    jaw, smile, pucker = (t[:, None, None] for t in (jaw, smile, pucker))
    width = 0.55 * (1 + 0.3 * smile - 0.35 * pucker)
    height = 0.18 * (1 + 0.4 * pucker) + 0.25 * jaw
    y0 = -0.05 - 0.12 * jaw + 0.08 * smile * (x / width) ** 2
    outer = _soft(1 - ((x / width) ** 2 + ((y - y0) / height) ** 2), sharp / 4)
    inner_h = 0.02 + 0.8 * height * jaw
    inner = _soft(1 - ((x / (0.8 * width)) ** 2 + ((y - y0) / inner_h) ** 2), sharp / 4)
    chin = 0.9 - 0.25 * _soft(-0.75 - y + 0.2 * jaw, sharp / 4)
    face = skin * chin
    return face * (1 - outer) + outer * (lips * (1 - inner) + 0.05 * inner)


def render_hmc(
    params: torch.Tensor,
    appearance: torch.Tensor,
    camera: torch.Tensor,
    res: int,
    generator: torch.Generator,
    noise: float = 0.02,
) -> dict[str, torch.Tensor]:
    """Three (N, 1, res, res) views in [0, 1] for N frames (params (N, 11), appearance (N, 7), camera (N, 3, 4))."""
    n = params.shape[0]
    sharp = res / 2.5
    jitter = torch.randn(n, 3, 2, generator=generator) * 0.02
    light = torch.randn(n, 3, 3, generator=generator) * torch.tensor([0.08, 0.15, 0.15])
    out = {}
    for i, view in enumerate(VIEWS):
        x, y = _grid(n, res, camera[:, i], jitter[:, i])
        if view == "mouth":
            img = mouth_image(x, y, params[:, 8], params[:, 9], params[:, 10], appearance, sharp)
        else:
            mirror = 1.0 if view == "left_eye" else -1.0
            g, lid, brow = (0, 4, 6) if view == "left_eye" else (2, 5, 7)
            img = eye_image(
                mirror * x,
                y,
                mirror * params[:, g],
                params[:, g + 1],
                params[:, lid],
                params[:, brow],
                appearance,
                sharp,
            )
        gain = 1 + light[:, i, 0, None, None] + light[:, i, 1, None, None] * x + light[:, i, 2, None, None] * y
        img = img * gain + noise * torch.randn(img.shape, generator=generator)
        out[view] = img.clamp(0, 1).unsqueeze(1)
    return out
