"""The avatar task: Eq. 4 loss (Eq. 3-weighted or not) on the synthetic HMC benchmark or your own npz data;
render MSE per viewing direction, per identity and on the extreme subset as its evaluation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from hwnas.apps.avatar.data import AvatarData, load_npz, synthesize, task_preset
from hwnas.apps.avatar.decoder import VIEW_DIRECTIONS
from hwnas.apps.avatar.encoders import BASELINES, build_baseline, count_flops, count_params
from hwnas.apps.avatar.evaluate import PIXEL_SCALE, mean_predictor, model_predictor, render_mse
from hwnas.apps.avatar.losses import RENDER_ONLY, AvatarLoss, ExtremeExpressionWeight
from hwnas.apps.avatar.network import AvatarNetwork, avatar_outputs
from hwnas.space.architecture import Architecture
from hwnas.space.declared import SpacePreset
from hwnas.train.objective import Task, TaskRequest

DIRECTIONS = tuple(VIEW_DIRECTIONS)
SEARCH_STEPS = {"tiny": 30, "small": 400, "paper": 20000}
SEARCH_RENDER_SIZE = 32  # a search renders at most this size: the ranking needs no finer images


@dataclass(frozen=True)
class AvatarOptions:
    ee_loss: bool = True  # Eq. 3: weigh each sample's render error by how extreme its expression is


class AvatarTask(Task):
    name = "avatar"
    baselines = BASELINES
    Options = AvatarOptions

    def __init__(self, data: AvatarData, preset: str, render_size: int, ee_loss: bool = True):
        super().__init__()
        spec = task_preset(preset)
        self.data, self.preset, self.render_size, self.ee_loss = data, preset, render_size, ee_loss
        self.batch_size, self.train_steps = spec.batch, spec.steps
        self.search_steps = SEARCH_STEPS.get(preset, spec.steps)
        weight = ExtremeExpressionWeight() if ee_loss else None
        self.loss_fn = AvatarLoss(data.z.shape[1], render_size, extreme_weight=weight)

    @classmethod
    def create(cls, request: TaskRequest) -> AvatarTask:
        spec = task_preset(request.preset)
        data = synthesize(spec, seed=request.seed) if request.data is None else load_npz(request.data)
        render = min(spec.render_size, SEARCH_RENDER_SIZE) if request.for_search else spec.render_size
        return cls(data, request.preset, render, cls.read_options(request).ee_loss)

    def train_pool(self) -> torch.Tensor:
        return self.data.indices("train")

    def test_pool(self) -> torch.Tensor:
        return self.data.indices("test")

    def batch(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.data.batch(idx)

    def loss(self, outputs, batch, step):
        """The render term looks at one viewing direction per step, in rotation: unbiased, a third of the cost."""
        view = (DIRECTIONS[step % len(DIRECTIONS)],)
        return self.loss_fn(avatar_outputs(outputs), batch, views=view)[0]

    def score(self, outputs, batch) -> float:
        """The full loss over every viewing direction, without the Eq. 3 weight (it would weigh each sample by
        the scored model's own gaze)."""
        return float(self.loss_fn(avatar_outputs(outputs), batch, extreme_weighted=False)[0])

    def selection_loss(self, outputs, batch, step):
        """The render error alone on the 0-255 scale (Eq. 3-weighted with the extreme-expression loss), one
        viewing direction per step as in ``loss``: what the task is evaluated on. Eq. 4's regressions, the
        gaze's above all, make up most of the training loss yet order networks of one latency unlike their
        render error (docs/search-quality.md). On the [0, 1] scale of Eq. 4 the render error of a trained
        network is ~1e-5 and its gradients sink below Adam's epsilon."""
        view = (DIRECTIONS[step % len(DIRECTIONS)],)
        return PIXEL_SCALE * self.loss_fn(avatar_outputs(outputs), batch, views=view, weights=RENDER_ONLY)[0]

    def selection_score(self, outputs, batch) -> float:
        """The render error over every viewing direction on the 0-255 scale, without the Eq. 3 weight."""
        out = self.loss_fn(avatar_outputs(outputs), batch, extreme_weighted=False, weights=RENDER_ONLY)
        return PIXEL_SCALE * float(out[0])

    def settings(self) -> dict[str, Any]:
        return {"ee_loss": self.ee_loss, "render_size": self.render_size}  # the size the loss renders is bound too

    def network(self, arch: Architecture, preset: SpacePreset) -> nn.Module:
        return AvatarNetwork(arch, preset, self.data.views.shape[-1])

    @classmethod
    def deployed_network(cls, arch: Architecture, preset: SpacePreset) -> nn.Module:
        return AvatarNetwork(arch, preset, max(arch.resolutions.values()))

    def baseline(self, name: str) -> nn.Module:
        d = self.data
        return build_baseline(name, self.preset, d.views.shape[-1], d.z.shape[1], d.y.shape[1] // 2)

    @classmethod
    def reference_network(cls, name: str, preset: str) -> nn.Module:
        spec = task_preset(preset)
        return build_baseline(name, preset, spec.view_res, spec.latent_dim, spec.keypoints)

    def evaluate(self, net: nn.Module) -> dict[str, Any]:
        size, d = task_preset(self.preset).render_size, self.data
        return {
            "mflops": count_flops(net, d.views.shape[-1]) / 1e6,
            "params": count_params(net),
            "test": render_mse(model_predictor(net), d, "test", size),
            "extreme": render_mse(model_predictor(net), d, "extreme", size),
            "mean_baseline": {split: render_mse(mean_predictor(d), d, split, size) for split in ("test", "extreme")},
        }

    def summary(self, metrics: dict[str, Any]) -> list[str]:
        m = metrics
        lines = [f"{'':22s} {'front':>8s} {'left':>8s} {'right':>8s} {'mean':>8s}"]
        for label, r in (
            ("test", m["test"]),
            ("extreme", m["extreme"]),
            ("mean baseline, test", m["mean_baseline"]["test"]),
            ("mean baseline, extreme", m["mean_baseline"]["extreme"]),
        ):
            lines.append(f"{label:22s} {r['front']:8.2f} {r['left']:8.2f} {r['right']:8.2f} {r['mean']:8.2f}")
        per_identity = ", ".join(f"#{k} {v:.2f}" for k, v in m["test"]["per_identity"].items())
        return [*lines, f"test per identity: {per_identity}"]
