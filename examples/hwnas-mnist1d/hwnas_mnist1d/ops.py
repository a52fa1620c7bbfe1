"""1-D op types on signals laid out as (N, C, 1, W): ``conv1d`` (k-tap convolution, batch norm, ReLU) and
``sepconv1d`` (depthwise k-tap, then pointwise, batch norm, ReLU). They are 2-D convolutions with a 1 x k
kernel, so onnxruntime and LiteRT run them as the convolutions they are; importing this module registers both
(the ``hwnas.ops`` entry point names it)."""

from __future__ import annotations

from torch import nn

from hwnas.api import OpType, register


def _conv(cin: int, cout: int, kernel: int, stride: int, groups: int = 1) -> nn.Conv2d:
    """A 1 x ``kernel`` convolution, 'same' padded along the signal; the stride applies to both axes, so that
    the output height is what hwnas computes for any op (1 stays 1)."""
    return nn.Conv2d(cin, cout, (1, kernel), stride, padding=(0, kernel // 2), groups=groups, bias=False)


class Conv1d(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int):
        super().__init__()
        self.conv, self.bn, self.act = _conv(cin, cout, kernel, stride), nn.BatchNorm2d(cout), nn.ReLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class SepConv1d(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int):
        super().__init__()
        # no batch norm between the two: an input channel a narrower child lacks stays zero, so the widest
        # module computes every child (hwnas.testing.check_op_type checks it)
        self.depthwise = _conv(cin, cin, kernel, stride, groups=cin)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)
        self.bn, self.act = nn.BatchNorm2d(cout), nn.ReLU()

    def forward(self, x):
        return self.act(self.bn(self.pointwise(self.depthwise(x))))


CONV1D = register(
    OpType(
        "conv1d",
        fields=("kernel", "stride", "cin", "cout", "hw"),
        example="conv1d-k5-s2-cin8-cout16-h1w40",
        macs=lambda s: s.kernel * s.cin * s.cout * s.out_h * s.out_w,
        params=lambda s: s.kernel * s.cin * s.cout + 2 * s.cout,
        build=lambda s: Conv1d(s.cin, s.cout, s.kernel, s.stride),
    )
)

SEPCONV1D = register(
    OpType(
        "sepconv1d",
        fields=("kernel", "stride", "cin", "cout", "hw"),
        example="sepconv1d-k9-s2-cin8-cout16-h1w40",
        macs=lambda s: (s.kernel * s.cin + s.cin * s.cout) * s.out_h * s.out_w,
        params=lambda s: s.kernel * s.cin + s.cin * s.cout + 2 * s.cout,
        build=lambda s: SepConv1d(s.cin, s.cout, s.kernel, s.stride),
    )
)
