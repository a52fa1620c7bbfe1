"""Evaluate an encoder: render MSE per viewing direction, per identity and on the extreme subset."""

from __future__ import annotations

from collections import defaultdict

import torch

from hwnas.apps.avatar.data import AvatarData
from hwnas.apps.avatar.decoder import VIEW_DIRECTIONS
from hwnas.apps.avatar.losses import AvatarLoss

PIXEL_SCALE = 255.0**2  # MSE reported on a 0-255 pixel scale


@torch.no_grad()
def frame_mse(loss: AvatarLoss, pred: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Per viewing direction, each frame's MSE between the avatar rendered from ``pred`` and from the targets
    of batch ``b`` (``z``, ``g``, ``appearance``), on the 0-255 scale."""
    ours = loss.renders(pred["z"], pred["g"], b["appearance"])
    truth = loss.renders(b["z"], b["g"], b["appearance"])
    return {view: (ours[view] - truth[view]).pow(2).flatten(1).mean(1) * PIXEL_SCALE for view in VIEW_DIRECTIONS}


@torch.no_grad()
def render_mse(predict, data: AvatarData, split: str, render_size: int, batch: int = 128) -> dict[str, object]:
    """``predict(batch) -> {z, g, y}``; MSE between the avatar rendered from predictions and from targets."""
    loss = AvatarLoss(data.z.shape[1], render_size).eval()
    sums: dict[str, float] = defaultdict(float)
    per_identity: dict[int, list[float]] = defaultdict(lambda: [0.0, 0])
    idx = data.indices(split)
    for start in range(0, len(idx), batch):
        b = data.batch(idx[start : start + batch])
        per_view = frame_mse(loss, predict(b), b)
        frame = torch.zeros(len(b["z"]))
        for view, mse in per_view.items():
            sums[view] += float(mse.sum())
            frame += mse / len(per_view)
        for ident, value in zip(b["identity"].tolist(), frame.tolist(), strict=True):
            per_identity[ident][0] += value
            per_identity[ident][1] += 1
    n = max(len(idx), 1)
    views = {view: sums[view] / n for view in VIEW_DIRECTIONS}
    return {
        **views,
        "mean": sum(views.values()) / len(views),
        "per_identity": {str(k): s / c for k, (s, c) in sorted(per_identity.items())},
        "frames": len(idx),
    }


def model_predictor(model: torch.nn.Module):
    model.eval()
    return lambda b: model(b["views"])


def mean_predictor(data: AvatarData):
    """The predict-the-mean baseline: training-set mean z, g and y for every frame."""
    train = data.indices("train")
    means = {k: getattr(data, k)[train].mean(0) for k in ("z", "g", "y")}
    return lambda b: {k: v.expand(len(b["z"]), -1) for k, v in means.items()}
