"""``mbconv``: the inverted residual of MobileNetV2/V3, ProxylessNAS, FBNet and MnasNet — a 1×1 expansion to cin·e
channels (none when e = 1), a k×k depthwise convolution, optionally squeeze-excite, and a 1×1 projection;
residual at stride 1 with cin = cout. Four types, one per MobileNet block variant:

- ``mbconv``        ReLU6                       (``mbconv-k3-e6-s2-cin16-cout24-h32w32``)
- ``mbconv_se``     ReLU6 + squeeze-excite
- ``mbconv_hs``     h-swish (MobileNetV3)
- ``mbconv_se_hs``  h-swish + squeeze-excite (MobileNetV3's later blocks)

Squeeze-excite reduces the cin·e channels to max(1, cin·e / 4) and gates them with a hard sigmoid, as MobileNetV3.
"""

from __future__ import annotations

import torch
from torch import nn

from hwnas.ops.registry import OpType, register
from hwnas.ops.sharing import matched_residual, same_widths, width_masks

SE_REDUCTION = 4


def se_width(hidden: int) -> int:
    return max(1, hidden // SE_REDUCTION)


def _act(hswish: bool) -> nn.Module:
    return nn.Hardswish() if hswish else nn.ReLU6()


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, hswish: bool):
        super().__init__()
        self.reduce = nn.Conv2d(channels, se_width(channels), 1)
        self.act = _act(hswish)
        self.expand = nn.Conv2d(se_width(channels), channels, 1)
        self.gate = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor, squeeze_mask: torch.Tensor | None = None) -> torch.Tensor:
        s = self.act(self.reduce(x.mean(dim=(2, 3), keepdim=True)))
        if squeeze_mask is not None:
            s = s * squeeze_mask[None, :, None, None]
        return x * self.gate(self.expand(s))


class MBConv(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, expansion: int, stride: int, se: bool, hswish: bool):
        super().__init__()
        hidden = cin * expansion
        self.cout, self.expansion, self.stride = cout, expansion, stride
        self.expand = (
            nn.Sequential(nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), _act(hswish))
            if expansion != 1
            else None
        )
        self.depthwise = nn.Sequential(
            nn.Conv2d(hidden, hidden, kernel, stride, padding=kernel // 2, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            _act(hswish),
        )
        self.se = SqueezeExcite(hidden, hswish) if se else None
        self.project = nn.Sequential(nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor, w_in: torch.Tensor | None = None, w_out: torch.Tensor | None = None):
        """The op; with ``w_in`` and ``w_out``, in a supernet, the children they weigh (``share_widths``)."""
        shared = w_in is not None and w_out is not None
        hidden = (w_in @ self.hidden_masks)[None, :, None, None] if shared else None
        h = x if self.expand is None else self.expand(x)
        if hidden is not None and self.expand is not None:
            h = h * hidden  # the child's cin·e channels: its batch norm leaves the others at its bias
        h = self.depthwise(h)
        if hidden is not None:
            h = h * hidden
        if self.se is not None:
            h = self.se(h, w_in @ self.squeeze_masks if shared else None)
        y = self.project(h)
        if shared:
            return y + matched_residual(x, self.cout, w_in @ self.same_width @ w_out) if self.stride == 1 else y
        return x + y if self.residual else y

    # ---- in a supernet (hwnas.ops.sharing.SharesWidths) -----------------------------------------------------
    def share_widths(self, in_widths: tuple[int, ...], out_widths: tuple[int, ...]) -> None:
        """The child of input width cin has cin·e hidden channels and max(1, cin·e/4) squeeze channels, the
        first of the widest op's, and a residual only at stride 1 with cin = cout."""
        hidden = tuple(w * self.expansion for w in in_widths)
        self.register_buffer("hidden_masks", width_masks(hidden), persistent=False)
        squeeze = width_masks(tuple(se_width(h) for h in hidden))
        self.register_buffer("squeeze_masks", squeeze, persistent=False)
        self.register_buffer("same_width", same_widths(in_widths, out_widths), persistent=False)


def _macs(s, se: bool) -> int:
    hidden, out = s.cin * s.expansion, s.out_h * s.out_w
    expand = s.cin * hidden * s.h * s.w if s.expansion != 1 else 0
    squeeze = 2 * hidden * se_width(hidden) if se else 0
    return expand + s.kernel**2 * hidden * out + squeeze + hidden * s.cout * out


def _params(s, se: bool) -> int:
    hidden = s.cin * s.expansion
    expand = s.cin * hidden + 2 * hidden if s.expansion != 1 else 0
    squeeze = 2 * hidden * se_width(hidden) + hidden + se_width(hidden) if se else 0
    return expand + s.kernel**2 * hidden + 2 * hidden + squeeze + hidden * s.cout + 2 * s.cout


for _name, _se, _hswish in (
    ("mbconv", False, False),
    ("mbconv_se", True, False),
    ("mbconv_hs", False, True),
    ("mbconv_se_hs", True, True),
):
    register(
        OpType(
            _name,
            fields=("kernel", "expansion", "stride", "cin", "cout", "hw"),
            example=f"{_name}-k3-e6-s2-cin16-cout24-h32w32",
            macs=lambda s, se=_se: _macs(s, se),
            params=lambda s, se=_se: _params(s, se),
            build=lambda s, se=_se, hs=_hswish: MBConv(s.cin, s.cout, s.kernel, s.expansion, s.stride, se, hs),
        )
    )
