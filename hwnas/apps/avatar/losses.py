"""The paper's losses: Eq. 4 (latent, gaze, geometry, texture, key points, render) and the
extreme-expression weight of Eq. 3, the same module in search and in training."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from hwnas.apps.avatar.decoder import VIEW_DIRECTIONS, AvatarDecoder, render
from hwnas.train.distributed import mean_over_ranks


@dataclass(frozen=True)
class LossWeights:
    """Coefficients of Eq. 4. Render MSE is in [0, 1]^2 units, far smaller than the regressions, hence 10."""

    latent: float = 1.0
    gaze: float = 1.0
    geometry: float = 1.0
    texture: float = 1.0
    keypoints: float = 1.0
    render: float = 10.0


RENDER_ONLY = LossWeights(latent=0.0, gaze=0.0, geometry=0.0, texture=0.0, keypoints=0.0, render=1.0)


class ExtremeExpressionWeight(nn.Module):
    """Eq. 3: w = exp(|g - g_bar| / tau), g_bar an exponential moving average (momentum m) of the gaze of
    all previous training faces. Rare gazes (far from the common one) weigh more; capped at ``max_weight``."""

    def __init__(self, tau: float = 0.5, momentum: float = 0.99, max_weight: float = 10.0, gaze_dim: int = 4):
        super().__init__()
        self.tau, self.momentum, self.max_weight = tau, momentum, max_weight
        self.register_buffer("g_bar", torch.zeros(gaze_dim))
        self.register_buffer("initialised", torch.tensor(False))

    def forward(self, g: torch.Tensor) -> torch.Tensor:
        g = g.detach()
        if self.training:
            mean = mean_over_ranks(g.mean(0))  # data-parallel ranks follow the gaze of the whole global batch
            if not bool(self.initialised):
                self.g_bar.copy_(mean)
                self.initialised.fill_(True)
            else:
                self.g_bar.mul_(self.momentum).add_((1 - self.momentum) * mean)
        distance = (g - self.g_bar).norm(dim=1)
        return torch.exp(distance / self.tau).clamp(max=self.max_weight)


class AvatarLoss(nn.Module):
    def __init__(
        self,
        latent_dim: int,
        render_size: int,
        weights: LossWeights = LossWeights(),
        extreme_weight: ExtremeExpressionWeight | None = None,
    ):
        super().__init__()
        self.decoder = AvatarDecoder(latent_dim)
        self.render_size = render_size
        self.weights = weights
        self.extreme_weight = extreme_weight

    def renders(self, z: torch.Tensor, g: torch.Tensor, appearance: torch.Tensor) -> dict[str, torch.Tensor]:
        decoded = self.decoder(z, g, appearance)
        return {view: render(decoded, appearance, view, self.render_size) for view in VIEW_DIRECTIONS}

    def forward(
        self,
        pred: dict[str, torch.Tensor],
        batch: dict[str, torch.Tensor],
        views: tuple[str, ...] = (),
        extreme_weighted: bool = True,
        weights: LossWeights | None = None,
    ):
        """Weighted mean loss and the per-term means (for logging). ``views`` limits the render term to some
        viewing directions (training rotates through them, one per step: an unbiased, 3x cheaper estimate).
        ``extreme_weighted=False`` leaves out the Eq. 3 weight (for held-out scores: it weighs samples by the
        model's own predicted gaze, lenient to a model that collapses gaze to the mean). ``weights`` replaces
        the coefficients of Eq. 4 for this call (``RENDER_ONLY``: the render error alone)."""
        views = views or tuple(VIEW_DIRECTIONS)
        app = batch["appearance"]
        d_hat, d = self.decoder(pred["z"], pred["g"], app), self.decoder(batch["z"], batch["g"], app)

        def per_sample(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return (a - b).pow(2).flatten(1).mean(1)

        terms = {
            "latent": per_sample(pred["z"], batch["z"]),
            "gaze": per_sample(pred["g"], batch["g"]),
            "geometry": per_sample(d_hat.face_geometry, d.face_geometry)
            + per_sample(d_hat.eye_geometry, d.eye_geometry),
            "texture": per_sample(d_hat.face_texture, d.face_texture) + per_sample(d_hat.eye_texture, d.eye_texture),
            "keypoints": per_sample(pred["y"], batch["y"]),
        }
        rendered = 0.0
        for view in views:
            with torch.no_grad():
                target = render(d, app, view, self.render_size)
            rendered = rendered + per_sample(render(d_hat, app, view, self.render_size), target)
        terms["render"] = rendered / len(views)
        coefficients = asdict(weights or self.weights)
        total = sum(coefficients[k] * v for k, v in terms.items())
        if self.extreme_weight is not None and extreme_weighted:
            total = total * self.extreme_weight(pred["g"])
        return total.mean(), {k: float(v.detach().mean()) for k, v in terms.items()}
