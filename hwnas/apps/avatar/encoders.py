"""Avatar encoders: the EEM-like heavy baseline and its compressed variants EEM-ch50 and EEM-res50.

An encoder takes the three HMC views (N, 3, R, R) and returns z, g (4: yaw/pitch per eye) and key points y.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from hwnas.apps.avatar.network import VIEW_ORDER
from hwnas.core.errors import HwnasError
from hwnas.ops.conv import ConvBNAct
from hwnas.space.network import ViewPyramid

BASELINES = ("eem", "eem-ch50", "eem-res50")
# base width of EEM per task preset: the `paper` one gives about 2.9 GFLOPs for three 192x192 views
EEM_WIDTH = {"tiny": 8, "small": 16, "paper": 60}


class ViewEncoder(nn.Module):
    """Four stride-2 stages of two 3x3 conv-BN-ReLU, then global average pooling."""

    def __init__(self, width: int):
        super().__init__()
        layers: list[nn.Module] = [ConvBNAct(1, width, 3, 2)]
        cin = width
        for mult in (1, 2, 4, 8):
            cout = width * mult
            layers += [ConvBNAct(cin, cout, 3, 2), ConvBNAct(cout, cout, 3, 1)]
            cin = cout
        self.body = nn.Sequential(*layers)
        self.out_features = cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).mean(dim=(2, 3))


class EEMEncoder(nn.Module):
    def __init__(self, width: int, input_res: int, latent_dim: int, keypoints: int):
        super().__init__()
        self.input_res = input_res
        self.views = nn.ModuleList([ViewEncoder(width) for _ in range(3)])
        self.register_buffer("view_index", torch.arange(3), persistent=False)
        features = 3 * self.views[0].out_features
        self.trunk = nn.Sequential(nn.Linear(features, 256), nn.ReLU())
        self.z = nn.Linear(256, latent_dim)
        self.g = nn.Linear(256, 4)
        self.y = nn.Linear(256, 2 * keypoints)

    output_names = ("z", "g", "y")

    def deploy_inputs(self) -> dict[str, tuple[int, ...]]:
        """As deployed: the three views stacked, at the encoder's input resolution."""
        return {"views": (1, 3, self.input_res, self.input_res)}

    def inputs_of(self, views: torch.Tensor | ViewPyramid) -> dict[str, torch.Tensor]:
        """The deployed input of a batch of views: the three stacked at the encoder's resolution."""
        if isinstance(views, ViewPyramid):
            views = views.at(self.input_res)
        if views.shape[-1] != self.input_res:
            views = F.interpolate(views, size=(self.input_res, self.input_res), mode="area")
        return {"views": views}

    def _view(self, views: torch.Tensor, i: int) -> torch.Tensor:
        # a Gather per view, not a channel Slice: onnx2tf mis-converts NCHW channel slices (measure/tflite.py)
        return views.index_select(1, self.view_index[i : i + 1])

    def early_taps(self, inputs: dict[str, torch.Tensor]) -> list[tuple[nn.Module, torch.Tensor]]:
        """Per view its first conv and that conv's input: where an early prediction head reads the frame."""
        return [(enc.body[0], self._view(inputs["views"], i)) for i, enc in enumerate(self.views)]

    def view_stems(self, inputs: dict[str, torch.Tensor]) -> dict[str, list[torch.Tensor]]:
        """Per view the output of its first conv (one stem per view)."""
        return {view: [module(x)] for view, (module, x) in zip(VIEW_ORDER, self.early_taps(inputs), strict=True)}

    def view_parts(
        self, stems: dict[str, list[torch.Tensor]], views: list[str] | None = None
    ) -> dict[str, torch.Tensor]:
        """Per view (all, or ``views``) its view encoder's features from its stem; ``fuse`` maps all three to
        the outputs: ``encode(inputs) == fuse(view_parts(view_stems(inputs)))``."""
        return {
            v: self.views[VIEW_ORDER.index(v)].body[1:](stems[v][0]).mean(dim=(2, 3)) for v in (views or VIEW_ORDER)
        }

    def fuse(self, parts: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        h = self.trunk(torch.cat([parts[v] for v in VIEW_ORDER], 1))
        return {"z": self.z(h), "g": self.g(h), "y": self.y(h)}

    def encode(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        views = inputs["views"]
        return self.fuse(
            {v: enc(self._view(views, i)) for i, (v, enc) in enumerate(zip(VIEW_ORDER, self.views, strict=True))}
        )

    def forward(self, views: torch.Tensor | ViewPyramid) -> dict[str, torch.Tensor]:
        return self.encode(self.inputs_of(views))


def build_baseline(name: str, preset: str, view_res: int, latent_dim: int, keypoints: int) -> EEMEncoder:
    if name not in BASELINES:
        raise HwnasError(f"unknown encoder {name!r}; baselines: {', '.join(BASELINES)}")
    width = EEM_WIDTH[preset] // (2 if name == "eem-ch50" else 1)
    res = view_res // (2 if name == "eem-res50" else 1)
    return EEMEncoder(width, res, latent_dim, keypoints)


def count_flops(model: nn.Module, input_res: int) -> int:
    """FLOPs of one frame (three views at ``input_res``), a multiply-add counted as two."""
    model = model.eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.zeros(1, 3, input_res, input_res))
    return counter.get_total_flops()


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
