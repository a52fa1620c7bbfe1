"""``skip``: a skipped layer — identity, or channel truncation / zero padding when the widths differ, which is
what skipping costs under channel search (``skip-cin16-cout16-h48w48``). It has no stride, so a space offers
it only in layers that keep the resolution."""

from __future__ import annotations

import torch
from torch import nn

from hwnas.ops.registry import OpType, register


class ChannelSkip(nn.Module):
    """Truncation is a Gather and padding a Concat with zeros rather than Slice / Pad: onnx2tf mis-converts a
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


register(
    OpType(
        "skip",
        fields=("cin", "cout", "hw"),
        example="skip-cin16-cout16-h48w48",
        macs=lambda s: 0,
        params=lambda s: 0,
        build=lambda s: ChannelSkip(s.cin, s.cout),
    )
)
