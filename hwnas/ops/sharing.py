"""What a supernet needs of an op type: how the op built at a layer's widest widths computes each narrower child.

An op whose children are the widest op run on zero-padded input (a convolution: the extra input channels are
zero, the extra output channels are masked by the layer) needs nothing. An op whose inner width follows its
input width (an expansion to cin·e), or whose residual exists only when the child's input and output widths
match, implements ``SharesWidths``: the supernet calls ``share_widths`` once, then runs it as ``op(x, w_in, w_out)``
(through ``__call__``, so hooks see it) instead of ``op(x)``. The contract: with one-hot ``w_in`` / ``w_out`` the
output's leading channels equal those of the child of that input and output width whose weights are the leading
slices of the widest op's (``hwnas.testing.check_op_type``).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F


@runtime_checkable
class SharesWidths(Protocol):
    def share_widths(self, in_widths: tuple[int, ...], out_widths: tuple[int, ...]) -> None:
        """Called once on the op built at max(in_widths) -> max(out_widths): the widths its children may have.
        From then on ``forward(x, w_in, w_out)`` is the output of the child of input width in_widths[i] with
        weight w_in[i] and output width out_widths[j] with weight w_out[j] (one-hot: exactly one child; soft:
        their mixture); ``forward(x)`` stays the op itself."""


def width_masks(widths: tuple[int, ...]) -> torch.Tensor:
    """(len(widths), max(widths)): row j keeps the first widths[j] channels."""
    masks = torch.zeros(len(widths), max(widths))
    for j, w in enumerate(widths):
        masks[j, :w] = 1
    return masks


def same_widths(in_widths: tuple[int, ...], out_widths: tuple[int, ...]) -> torch.Tensor:
    """(len(in_widths), len(out_widths)): 1 where the input and output width are equal."""
    return (torch.tensor(in_widths)[:, None] == torch.tensor(out_widths)[None, :]).float()


def matched_residual(x: torch.Tensor, cout: int, probability: torch.Tensor) -> torch.Tensor:
    """``x`` brought to ``cout`` channels (zero-padded or cut), weighted by the probability that the child has
    its residual (its input width equals its output width)."""
    cin = x.shape[1]
    skip = F.pad(x, (0, 0, 0, 0, 0, cout - cin)) if cout >= cin else x[:, :cout]
    return probability * skip
