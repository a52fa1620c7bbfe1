"""A standalone avatar encoder built from an Architecture of the avatar space: views -> z, g, y."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hwnas.architecture import Architecture
from hwnas.searchspaces.declarative import SpacePreset

EYE_VIEWS = ("left_eye", "right_eye")
VIEW_ORDER = ("left_eye", "right_eye", "mouth")  # channel order of the data's views


class AvatarNetwork(nn.Module):
    def __init__(self, arch: Architecture, preset: SpacePreset, input_res: int):
        super().__init__()
        self.arch, self.input_res = arch, input_res
        arch.validate(preset)
        self.branch_keys = [f"{b.view}.{b.branch}" for b in arch.branches]
        self.branches = nn.ModuleDict(
            {
                key.replace(".", "__"): nn.Sequential(*[s.build_module() for s in arch.branch_specs(preset, b)])
                for key, b in zip(self.branch_keys, arch.branches, strict=True)
            }
        )
        reg = preset.regressor_op()
        self.regressor = nn.Linear(reg.cin, reg.cout)
        self.regress_from = preset.regressor

    def forward(self, views: torch.Tensor) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        resized = {}
        for i, view in enumerate(VIEW_ORDER):
            res = self.arch.resolutions[view]
            x = views[:, i : i + 1]
            resized[view] = x if x.shape[-1] == res else F.interpolate(x, size=(res, res), mode="area")
        for key in self.branch_keys:
            view, _ = key.split(".")
            out[key] = self.branches[key.replace(".", "__")](resized[view])
        features = [out[f"{v}.{self.regress_from}"] for v in VIEW_ORDER if f"{v}.{self.regress_from}" in out]
        return {
            "z": self.regressor(torch.cat(features, 1)),
            "g": torch.cat([out[f"{v}.gaze"] for v in EYE_VIEWS], 1),
            "y": torch.cat([out[f"{v}.keypoints"] for v in EYE_VIEWS], 1),
        }
