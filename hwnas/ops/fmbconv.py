"""``fmbconv``: Fused-MBConv — a k×k expansion conv + BN + ReLU, then a 1×1 projection + BN; residual when
stride 1 and cin = cout; expansion 1 is a single k×k conv-BN-ReLU, as in EfficientNetV2
(``fmbconv-k3-e4-s2-cin16-cout32-h96w96``)."""

from __future__ import annotations

import torch
from torch import nn

from hwnas.ops.conv import ConvBNAct
from hwnas.ops.registry import OpType, register
from hwnas.ops.sharing import matched_residual, same_widths, width_masks


class FusedMBConv(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, expansion: int, stride: int):
        super().__init__()
        self.cout, self.expansion, self.stride = cout, expansion, stride
        if expansion == 1:
            self.block: nn.Module = ConvBNAct(cin, cout, kernel, stride)
        else:
            hidden = cin * expansion
            self.block = nn.Sequential(ConvBNAct(cin, hidden, kernel, stride), ConvBNAct(hidden, cout, 1, 1, act=False))
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor, w_in: torch.Tensor | None = None, w_out: torch.Tensor | None = None):
        """The op; with ``w_in`` and ``w_out``, in a supernet, the children they weigh (``share_widths``)."""
        if w_in is not None and w_out is not None:
            return self._shared(x, w_in, w_out)
        y = self.block(x)
        return x + y if self.residual else y

    # ---- in a supernet (hwnas.ops.sharing.SharesWidths) -----------------------------------------------------
    def share_widths(self, in_widths: tuple[int, ...], out_widths: tuple[int, ...]) -> None:
        """The child of input width cin has cin·e hidden channels, the first of the widest op's, and a residual
        only at stride 1 with cin = cout."""
        hidden = width_masks(tuple(w * self.expansion for w in in_widths))
        self.register_buffer("hidden_masks", hidden, persistent=False)  # row i: the hidden channels of in_widths[i]
        self.register_buffer("same_width", same_widths(in_widths, out_widths), persistent=False)

    def _shared(self, x: torch.Tensor, w_in: torch.Tensor, w_out: torch.Tensor) -> torch.Tensor:
        if self.expansion == 1:
            y = self.block(x)
        else:
            y = self.block[1](self.block[0](x) * (w_in @ self.hidden_masks)[None, :, None, None])
        if self.stride == 1:
            y = y + matched_residual(x, self.cout, w_in @ self.same_width @ w_out)
        return y


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
