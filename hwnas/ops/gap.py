"""``gap``: global average pooling, (N, C, H, W) -> (N, C) (``gap-cin32-h6w6``)."""

from __future__ import annotations

import torch
from torch import nn

from hwnas.ops.registry import OpType, register


class GlobalAvgPool(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


register(
    OpType(
        "gap",
        fields=("cin", "hw"),
        example="gap-cin32-h6w6",
        macs=lambda s: s.cin * s.h * s.w,  # every input is added once
        params=lambda s: 0,
        build=lambda s: GlobalAvgPool(),
        pools=True,
        counts_adds=True,
    )
)
