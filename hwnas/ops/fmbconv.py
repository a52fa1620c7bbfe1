"""``fmbconv``: Fused-MBConv — a k×k expansion conv + BN + ReLU, then a 1×1 projection + BN; residual when
stride 1 and cin = cout; expansion 1 is a single k×k conv-BN-ReLU, as in EfficientNetV2
(``fmbconv-k3-e4-s2-cin16-cout32-h96w96``)."""

from __future__ import annotations

import torch
from torch import nn

from hwnas.ops.conv import ConvBNAct
from hwnas.ops.registry import OpType, register


class FusedMBConv(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, expansion: int, stride: int):
        super().__init__()
        self.expansion, self.stride = expansion, stride
        if expansion == 1:
            self.block: nn.Module = ConvBNAct(cin, cout, kernel, stride)
        else:
            hidden = cin * expansion
            self.block = nn.Sequential(ConvBNAct(cin, hidden, kernel, stride), ConvBNAct(hidden, cout, 1, 1, act=False))
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor, hidden_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``hidden_mask`` (channels of the expansion) lets a supernet run this op at a narrower input width:
        the op of width cin has cin·e hidden channels, the first cin·e of the widest op's."""
        if hidden_mask is None or self.expansion == 1:
            y = self.block(x)
        else:
            y = self.block[1](self.block[0](x) * hidden_mask[None, :, None, None])
        return x + y if self.residual else y


def _macs(s) -> int:
    if s.expansion == 1:
        return s.kernel**2 * s.cin * s.cout * s.out_h * s.out_w
    hidden = s.cin * s.expansion
    return (s.kernel**2 * s.cin * hidden + hidden * s.cout) * s.out_h * s.out_w


def _params(s) -> int:
    if s.expansion == 1:
        return s.kernel**2 * s.cin * s.cout + 2 * s.cout
    hidden = s.cin * s.expansion
    return s.kernel**2 * s.cin * hidden + 2 * hidden + hidden * s.cout + 2 * s.cout


register(
    OpType(
        "fmbconv",
        fields=("kernel", "expansion", "stride", "cin", "cout", "hw"),
        example="fmbconv-k3-e4-s2-cin16-cout32-h96w96",
        macs=_macs,
        params=_params,
        build=lambda s: FusedMBConv(s.cin, s.cout, s.kernel, s.expansion, s.stride),
    )
)
