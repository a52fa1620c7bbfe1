"""The fixed avatar decoder and its differentiable renderer: (z, g) -> geometry, textures -> RGB images.

Mirrors Eq. 1 of the paper: the face decoder D_f maps the latent code z to face geometry G_f (3D vertices of
the face outline, eyelids, brows and lips) and face texture T_f (region colours); the eye decoder D_e maps the
gaze g to eye geometry G_e (3D iris centres) and eye texture T_e. The renderer R soft-rasterises convex
polygons and discs (sigmoid edges, painter's order) for a viewing direction, so every pixel is differentiable
in every vertex and colour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from hwnas.apps.avatar.expressions import N_PARAMS

VIEW_DIRECTIONS = {"front": 0.0, "left": math.radians(25), "right": math.radians(-25)}
LID_POINTS = 6  # vertices per eyelid in the face geometry
EYE_CENTERS = ((-0.36, 0.22), (0.36, 0.22))  # left eye is on the image's left
OUTLINE_POINTS = 20
LIP_POINTS = 10


def latent_map(latent_dim: int, seed: int = 1234) -> torch.Tensor:
    """The fixed map z = W p: W has orthonormal columns, so the decoder recovers p as W^T z."""
    if latent_dim < N_PARAMS:
        raise ValueError(f"latent_dim must be >= {N_PARAMS}")
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(latent_dim, N_PARAMS, generator=g))
    return q


@dataclass
class Decoded:
    face_geometry: torch.Tensor  # (N, V, 3)
    eye_geometry: torch.Tensor  # (N, 2, 3): iris centres (x, y, depth)
    face_texture: torch.Tensor  # (N, 5, 3): skin, brow, lips, mouth interior, sclera
    eye_texture: torch.Tensor  # (N, 2, 3): iris, pupil


def lid_curves(lid: torch.Tensor, eye_width: torch.Tensor, eye_height: torch.Tensor, m: int):
    """Upper and lower eyelid points, (N, m, 2) each, around an eye centred at the origin."""
    t = torch.linspace(-1, 1, m)
    across = 1 - t**2
    x = eye_width[:, None] * 0.5 * t
    upper = eye_height[:, None] * 0.5 * (0.15 + 0.85 * lid[:, None]) * across
    lower = -eye_height[:, None] * 0.5 * 0.45 * across
    return torch.stack([x, upper], -1), torch.stack([x, lower], -1)


def keypoints(params: torch.Tensor, appearance: torch.Tensor, per_eye: int) -> torch.Tensor:
    """Key points y: ``per_eye`` numbers per eye (x, y of points on the upper and lower lids), (N, 2 * per_eye)."""
    m = max(per_eye // 4, 1)
    out = []
    for eye, lid in ((0, params[:, 4]), (1, params[:, 5])):
        up, lo = lid_curves(lid, appearance[:, 0], appearance[:, 1], m + 2)
        pts = torch.cat([up[:, 1:-1], lo[:, 1:-1]], 1) + torch.tensor(EYE_CENTERS[eye])
        out.append(pts.reshape(len(params), -1)[:, :per_eye])
    return torch.cat(out, 1)


def _surface_depth(xy: torch.Tensor) -> torch.Tensor:
    return 0.35 * (1 - 0.8 * xy[..., 0] ** 2 - 0.3 * xy[..., 1] ** 2)


class AvatarDecoder(torch.nn.Module):
    """Fixed (not trained) decoder of one latent space; identity appearance enters as a condition."""

    def __init__(self, latent_dim: int):
        super().__init__()
        self.register_buffer("W", latent_map(latent_dim))
        g = torch.Generator().manual_seed(99)
        self.register_buffer("texture_basis", 0.15 * torch.randn(N_PARAMS, 5, 3, generator=g))

    def expression(self, z: torch.Tensor) -> torch.Tensor:
        return z @ self.W

    def forward(self, z: torch.Tensor, g: torch.Tensor, appearance: torch.Tensor) -> Decoded:
        p = self.expression(z)
        n = z.shape[0]
        ew, eh = appearance[:, 0], appearance[:, 1]
        parts = []
        t = torch.linspace(0, 2 * math.pi, OUTLINE_POINTS + 1)[:-1]
        outline = torch.stack([0.85 * torch.cos(t), 0.95 * torch.sin(t)], -1).expand(n, -1, -1)
        parts.append(outline)
        for eye, lid, brow in ((0, p[:, 4], p[:, 6]), (1, p[:, 5], p[:, 7])):
            up, lo = lid_curves(lid, 0.8 * ew, 0.8 * eh, LID_POINTS)
            center = torch.tensor(EYE_CENTERS[eye])
            parts.append(torch.cat([up.flip(1), lo[:, 1:-1]], 1) + center)  # counter-clockwise, corners once
            by = 0.4 * eh[:, None] * 1.4 + 0.08 * brow[:, None]
            bx = 0.4 * ew[:, None] * torch.tensor([-1.0, 1.0, 1.0, -1.0])
            byy = by + torch.tensor([-0.025, -0.025, 0.025, 0.025])
            parts.append(torch.stack([bx, byy], -1) + center)
        jaw, smile, pucker = p[:, 8, None], p[:, 9, None], p[:, 10, None]
        width = 0.3 * (1 + 0.3 * smile - 0.35 * pucker)
        height = 0.08 * (1 + 0.4 * pucker) + 0.1 * jaw
        t = torch.linspace(0, 2 * math.pi, LIP_POINTS + 1)[:-1]
        cy = -0.5 - 0.05 * jaw
        outer = torch.stack([width * torch.cos(t), cy + height * torch.sin(t)], -1)
        inner = torch.stack([0.8 * width * torch.cos(t), cy + (0.01 + 0.8 * height * jaw) * torch.sin(t)], -1)
        parts += [outer, inner]
        xy = torch.cat(parts, 1)
        face_geometry = torch.cat([xy, _surface_depth(xy)[..., None]], -1)

        centers = torch.tensor(EYE_CENTERS)
        iris_xy = centers + torch.stack([0.22 * ew[:, None] * g[:, 0::2], 0.24 * eh[:, None] * g[:, 1::2]], -1)
        eye_geometry = torch.cat([iris_xy, _surface_depth(centers).expand(n, 2)[..., None] + 0.02], -1)

        base = torch.stack(
            [appearance[:, 3], appearance[:, 3] * 0.4, appearance[:, 6], torch.full_like(ew, 0.05), appearance[:, 4]], 1
        )
        tint = torch.tensor([[1.0, 0.8, 0.7], [1.0, 0.9, 0.8], [1.0, 0.6, 0.6], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]])
        face_texture = (base[..., None] * tint + torch.einsum("np,pkc->nkc", p, self.texture_basis) * 0.2).clamp(0, 1)
        iris = appearance[:, 5, None, None] * torch.tensor([0.6, 0.8, 1.0]) + 0.05 * g.abs().mean(1)[:, None, None]
        eye_texture = torch.cat([iris, torch.full_like(iris, 0.03)], 1)
        return Decoded(face_geometry, eye_geometry, face_texture, eye_texture)


def _project(points: torch.Tensor, yaw: float) -> torch.Tensor:
    """Rotate about the vertical axis and project orthographically: (..., 3) -> (..., 2)."""
    c, s = math.cos(yaw), math.sin(yaw)
    return torch.stack([c * points[..., 0] + s * points[..., 2], points[..., 1]], -1)


def soft_polygon(vertices: torch.Tensor, pixels: torch.Tensor, sharpness: float) -> torch.Tensor:
    """Soft coverage of a convex polygon with counter-clockwise (N, V, 2) vertices at (P, 2) pixels -> (N, P).

    The signed distance of pixel p to edge a->b is linear in p: (e_x (p_y - a_y) - e_y (p_x - a_x)) / |e|.
    """
    a, b = vertices, vertices.roll(-1, dims=1)
    edge = b - a
    inv_length = sharpness / torch.sqrt((edge**2).sum(-1) + 1e-12)
    coef_x = (-edge[..., 1] * inv_length)[..., None]
    coef_y = (edge[..., 0] * inv_length)[..., None]
    offset = ((edge[..., 1] * a[..., 0] - edge[..., 0] * a[..., 1]) * inv_length)[..., None]
    signed = torch.addcmul(torch.addcmul(offset, coef_x, pixels[:, 0]), coef_y, pixels[:, 1])
    return torch.sigmoid(signed).prod(1)


def soft_disc(center: torch.Tensor, radius: torch.Tensor, pixels: torch.Tensor, sharpness: float) -> torch.Tensor:
    d = torch.sqrt(((pixels[None] - center[:, None]) ** 2).sum(-1) + 1e-12)
    return torch.sigmoid((radius[:, None] - d) * sharpness)


def pixel_grid(size: int) -> torch.Tensor:
    lin = torch.linspace(-1, 1, size)
    v, u = torch.meshgrid(-lin, lin, indexing="ij")
    return torch.stack([u.reshape(-1), v.reshape(-1)], -1)


def render(decoded: Decoded, appearance: torch.Tensor, view: str, size: int) -> torch.Tensor:
    """R([G_e, G_f], [T_e, T_f]) for one viewing direction: (N, 3, size, size) RGB in [0, 1]."""
    yaw = VIEW_DIRECTIONS[view]
    pixels = pixel_grid(size)
    sharp = size / 2.0
    geo = _project(decoded.face_geometry, yaw)
    tex = decoded.face_texture
    n = geo.shape[0]
    o = 0
    image = torch.full((n, pixels.shape[0], 3), 0.08)

    def paint(mask: torch.Tensor, colour: torch.Tensor) -> None:
        nonlocal image
        image = image * (1 - mask[..., None]) + mask[..., None] * colour[:, None, :]

    def take(count: int) -> torch.Tensor:
        nonlocal o
        o += count
        return geo[:, o - count : o]

    paint(soft_polygon(take(OUTLINE_POINTS), pixels, sharp), tex[:, 0])
    apertures = []
    for _eye in range(2):
        apertures.append(soft_polygon(take(2 * LID_POINTS - 2), pixels, sharp))
        paint(soft_polygon(take(4), pixels, sharp), tex[:, 1])
    paint(soft_polygon(take(LIP_POINTS), pixels, sharp), tex[:, 2])
    paint(soft_polygon(take(LIP_POINTS), pixels, sharp), tex[:, 3])
    iris_xy = _project(decoded.eye_geometry, yaw)
    radius = 0.42 * appearance[:, 2] * math.cos(yaw)
    for eye in range(2):
        aperture = apertures[eye]
        paint(aperture, tex[:, 4])
        paint(aperture * soft_disc(iris_xy[:, eye], radius, pixels, sharp), decoded.eye_texture[:, 0])
        paint(aperture * soft_disc(iris_xy[:, eye], 0.45 * radius, pixels, sharp), decoded.eye_texture[:, 1])
    return image.reshape(n, size, size, 3).permute(0, 3, 1, 2)
