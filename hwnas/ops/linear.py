"""``linear``: a fully connected layer with bias (``linear-cin128-cout64``)."""

from __future__ import annotations

from torch import nn

from hwnas.ops.registry import OpType, register

register(
    OpType(
        "linear",
        fields=("cin", "cout"),
        example="linear-cin128-cout64",
        macs=lambda s: s.cin * s.cout,
        params=lambda s: s.cin * s.cout + s.cout,
        build=lambda s: nn.Linear(s.cin, s.cout),
    )
)
