"""The avatar encoder built from an Architecture of the avatar space: views -> z, g, y."""

from __future__ import annotations

import torch

from hwnas.space.architecture import Architecture
from hwnas.space.declared import SpacePreset
from hwnas.space.network import REGRESSED, ArchitectureNetwork

EYE_VIEWS = ("left_eye", "right_eye")
VIEW_ORDER = ("left_eye", "right_eye", "mouth")  # channel order of the data's views


def avatar_outputs(out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Branch outputs of the avatar space -> latent code z, gaze g (both eyes), key points y (both eyes);
    outputs that already are z, g, y (an AvatarNetwork's, a baseline's) pass through."""
    if "z" in out:
        return out
    return {
        "z": out[REGRESSED],
        "g": torch.cat([out[f"{v}.gaze"] for v in EYE_VIEWS], 1),
        "y": torch.cat([out[f"{v}.keypoints"] for v in EYE_VIEWS], 1),
    }


class AvatarNetwork(ArchitectureNetwork):
    def __init__(self, arch: Architecture, preset: SpacePreset, input_res: int):
        super().__init__(arch, preset)
        self.input_res = input_res

    @property
    def output_names(self) -> list[str]:
        return ["z", "g", "y"]

    def encode(self, views: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return avatar_outputs(super().encode(views))

    def fuse(self, parts: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return avatar_outputs(super().fuse(parts))
