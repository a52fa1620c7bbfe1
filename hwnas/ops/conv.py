"""``conv``: k×k convolution + batch norm + ReLU, 'same' padding (``conv-k3-s2-cin16-cout32-h96w96``)."""

from __future__ import annotations

import torch
from torch import nn

from hwnas.ops.registry import OpType, register


class ConvBNAct(nn.Module):
    """k x k convolution, batch norm and (optionally) ReLU; 'same' padding."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, act: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.act = nn.ReLU() if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


register(
    OpType(
        "conv",
        fields=("kernel", "stride", "cin", "cout", "hw"),
        example="conv-k3-s2-cin16-cout32-h96w96",
        macs=lambda s: s.kernel**2 * s.cin * s.cout * s.out_h * s.out_w,
        params=lambda s: s.kernel**2 * s.cin * s.cout + 2 * s.cout,
        build=lambda s: ConvBNAct(s.cin, s.cout, s.kernel, s.stride),
    )
)
