"""The torch modules behind each op type; an OpSpec builds one with ``OpSpec.build_module()``."""

from __future__ import annotations

import torch
from torch import nn

from hwnas.ops import OpSpec


class ConvBNAct(nn.Module):
    """k x k convolution, batch norm and (optionally) ReLU; 'same' padding."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, act: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.act = nn.ReLU() if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class FusedMBConv(nn.Module):
    """Fused-MBConv: a k x k expansion conv then a 1x1 projection; residual when shapes allow.

    With expansion 1 the block is a single k x k conv-BN-ReLU, as in EfficientNetV2.
    """

    def __init__(self, cin: int, cout: int, kernel: int, expansion: int, stride: int):
        super().__init__()
        if expansion == 1:
            self.block: nn.Module = ConvBNAct(cin, cout, kernel, stride)
        else:
            hidden = cin * expansion
            self.block = nn.Sequential(ConvBNAct(cin, hidden, kernel, stride), ConvBNAct(hidden, cout, 1, 1, act=False))
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.residual else y


class ChannelSkip(nn.Module):
    """A skip layer: identity, or channel truncation / zero padding when widths differ.

    Truncation is a Gather and padding a Concat with zeros rather than Slice / Pad: onnx2tf mis-converts a
    channel Slice of an NCHW graph (it slices the wrong axis after its NHWC transposition)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.cin, self.cout = cin, cout
        self.register_buffer("keep", torch.arange(min(cin, cout)), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.cout < self.cin:
            return x.index_select(1, self.keep)
        if self.cout > self.cin:
            n, _, h, w = x.shape
            return torch.cat([x, x.new_zeros(n, self.cout - self.cin, h, w)], 1)
        return x


class GlobalAvgPool(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


def build(spec: OpSpec) -> nn.Module:
    if spec.op == "conv":
        module: nn.Module = ConvBNAct(spec.cin, spec.cout, spec.kernel, spec.stride)
    elif spec.op == "fmbconv":
        module = FusedMBConv(spec.cin, spec.cout, spec.kernel, spec.expansion, spec.stride)
    elif spec.op == "skip":
        module = ChannelSkip(spec.cin, spec.cout)
    elif spec.op == "gap":
        module = GlobalAvgPool()
    elif spec.op == "linear":
        module = nn.Linear(spec.cin, spec.cout)
    else:  # OpSpec validates op types; this guards new types added without a module
        raise ValueError(f"no module for op type {spec.op!r}")
    return module.eval()
