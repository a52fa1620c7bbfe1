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
        """``views``: (batch, 3, input_res, input_res) in VIEW_ORDER; each view is resized to its resolution."""
        resized = {}
        for i, view in enumerate(VIEW_ORDER):
            res = self.arch.resolutions[view]
            x = views[:, i : i + 1]
            resized[view] = x if x.shape[-1] == res else F.interpolate(x, size=(res, res), mode="area")
        return self.encode(resized)

    def encode(self, views: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each view already at its architecture's resolution (what the camera pipeline hands the device)."""
        out = {key: self.branches[key.replace(".", "__")](views[key.split(".")[0]]) for key in self.branch_keys}
        features = [out[f"{v}.{self.regress_from}"] for v in VIEW_ORDER if f"{v}.{self.regress_from}" in out]
        return {
            "z": self.regressor(torch.cat(features, 1)),
            "g": torch.cat([out[f"{v}.gaze"] for v in EYE_VIEWS], 1),
            "y": torch.cat([out[f"{v}.keypoints"] for v in EYE_VIEWS], 1),
        }
