"""A standalone network built from an Architecture of any declared space: per view an image, per branch
an output, plus the regression over the regressor branch when the space declares one."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hwnas.space.architecture import Architecture
from hwnas.space.declared import SpacePreset

REGRESSED = "regressed"  # output key of the regressor


class ArchitectureNetwork(nn.Module):
    def __init__(self, arch: Architecture, preset: SpacePreset):
        super().__init__()
        arch.validate(preset)
        self.arch = arch
        self.views = list(preset.views)
        self.branch_keys = [f"{b.view}.{b.branch}" for b in arch.branches]
        self.view_branches = {v: [k for k in self.branch_keys if k.split(".")[0] == v] for v in self.views}
        self.branches = nn.ModuleDict(
            {
                key.replace(".", "__"): nn.Sequential(*[s.build_module() for s in arch.branch_specs(preset, b)])
                for key, b in zip(self.branch_keys, arch.branches, strict=True)
            }
        )
        reg = preset.regressor_op()
        self.regressor = nn.Linear(reg.cin, reg.cout) if reg is not None else None
        self.regress_from = preset.regressor
        self.input_height = preset.input_height

    def branch(self, key: str) -> nn.Sequential:
        """The branch ``view.branch`` (module names cannot hold dots)."""
        return self.branches[key.replace(".", "__")]

    @property
    def output_names(self) -> list[str]:
        return self.branch_keys + ([REGRESSED] if self.regressor is not None else [])

    def deploy_inputs(self) -> dict[str, tuple[int, ...]]:
        """As deployed: one input per view, already at that view's resolution (the camera pipeline resizes)."""
        return {v: (1, 1, self.input_height or r, r) for v, r in self.arch.resolutions.items()}

    def forward(self, views: torch.Tensor) -> dict[str, torch.Tensor]:
        """``views``: (batch, n views, H, W) in the space's view order; each is resized to its resolution."""
        return self.encode(self.inputs_of(views))

    def inputs_of(self, views: torch.Tensor | ViewPyramid) -> dict[str, torch.Tensor]:
        """The deployed inputs of a batch of views: each view at its resolution."""
        return resize_views(views, self.views, self.arch.resolutions, self.input_height)

    def early_taps(self, inputs: dict[str, torch.Tensor]) -> list[tuple[nn.Module, torch.Tensor]]:
        """Per view the first module it meets (the stem of its regressor branch, else of its first branch) and
        that module's input: where an early prediction head reads the frame."""
        taps = []
        for view in self.views:
            keys = self.view_branches[view]
            key = f"{view}.{self.regress_from}" if f"{view}.{self.regress_from}" in keys else keys[0]
            taps.append((self.branch(key)[0], inputs[view]))
        return taps

    def view_stems(self, inputs: dict[str, torch.Tensor]) -> dict[str, list[torch.Tensor]]:
        """Per view the output of each of its branches' first module (stem), in branch order: where a per-view
        early head reads the frame, and where ``view_parts`` goes on from."""
        return {view: [self.branch(k)[0](inputs[view]) for k in keys] for view, keys in self.view_branches.items()}

    def view_parts(
        self, stems: dict[str, list[torch.Tensor]], views: list[str] | None = None
    ) -> dict[str, torch.Tensor]:
        """Per view (all, or ``views``) what its branches compute from their stems, concatenated in branch
        order: the part of the network a per-view skip policy runs or holds. ``fuse`` turns every view's part
        into the outputs: ``encode(inputs) == fuse(view_parts(view_stems(inputs)))``."""
        return {
            view: torch.cat(
                [self.branch(k)[1:](m) for k, m in zip(self.view_branches[view], stems[view], strict=True)], 1
            )
            for view in (views or self.views)
        }

    def fuse(self, parts: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The outputs from every view's part."""
        out = {}
        for view, keys in self.view_branches.items():
            sizes = [self.branch(k)[-1].out_features for k in keys]
            out.update(zip(keys, parts[view].split(sizes, 1), strict=True))
        return self._with_regressed(out)

    def encode(self, views: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each view already at its architecture's resolution (what the camera pipeline hands the device)."""
        return self._with_regressed({key: self.branch(key)(views[key.split(".")[0]]) for key in self.branch_keys})

    def _with_regressed(self, out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The branch outputs plus the regressor's, when the space declares one."""
        if self.regressor is not None:
            features = [out[f"{v}.{self.regress_from}"] for v in self.views if f"{v}.{self.regress_from}" in out]
            out[REGRESSED] = self.regressor(torch.cat(features, 1))
        return out


class ViewPyramid(dict):
    """The same frames' views at several native resolutions, ``{res: (N, n views, res, res)}``:
    a network reads the one at its resolution rather than a resampling of the largest, so that a resolution
    choice carries the information a camera at that resolution would give."""

    def at(self, res: int, height: int | None = None) -> torch.Tensor:
        if res in self:
            return self[res]
        largest = self[max(self)]
        return F.interpolate(largest, size=(height or res, res), mode="area")

    def to(self, device: torch.device | str) -> ViewPyramid:
        return ViewPyramid({r: v.to(device) for r, v in self.items()})


def resize_views(
    views: torch.Tensor | ViewPyramid, names: list[str], resolutions: dict[str, int], height: int | None = None
) -> dict[str, torch.Tensor]:
    """Each view at its resolution: ``height`` (None: the resolution) by the resolution."""
    out = {}
    for i, view in enumerate(names):
        res = resolutions[view]
        size = (height or res, res)
        x = (views.at(res, height) if isinstance(views, ViewPyramid) else views)[:, i : i + 1]
        out[view] = x if tuple(x.shape[-2:]) == size else F.interpolate(x, size=size, mode="area")
    return out
