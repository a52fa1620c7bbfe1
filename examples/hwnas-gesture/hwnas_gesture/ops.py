"""The `sepconv` op type: a depthwise k x k convolution, then a pointwise 1 x 1 with batch norm and ReLU
(MobileNetV1's block). Importing this module registers it; the `hwnas.ops` entry point names the module."""

from __future__ import annotations

from torch import nn

from hwnas.api import OpType, register


class SepConv(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int):
        super().__init__()
        # no batch norm between the two convolutions: an input channel a narrower child lacks stays zero, so the
        # widest module computes every child (hwnas.ops.sharing; check_op_type checks it)
        self.depthwise = nn.Conv2d(cin, cin, kernel, stride, padding=kernel // 2, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.bn(self.pointwise(self.depthwise(x))))


SEPCONV = register(
    OpType(
        "sepconv",
        fields=("kernel", "stride", "cin", "cout", "hw"),
        example="sepconv-k3-s2-cin8-cout16-h16w16",
        macs=lambda s: (s.kernel**2 * s.cin + s.cin * s.cout) * s.out_h * s.out_w,
        params=lambda s: s.kernel**2 * s.cin + s.cin * s.cout + 2 * s.cout,
        build=lambda s: SepConv(s.cin, s.cout, s.kernel, s.stride),
    )
)
