"""OpSpec: one candidate operator instance with every shape-affecting parameter.

The canonical key is human readable and parses back, e.g. ``fmbconv-k3-e4-s2-cin16-cout32-h96w96``.
Fields an op type does not use are left at their defaults and do not appear in its key; batch 1 and
float32 are the defaults and are omitted too, so each OpSpec has exactly one canonical key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hwnas.errors import HwnasError

if TYPE_CHECKING:
    import torch

# The key tokens each op type uses, in key order.
OP_FIELDS: dict[str, tuple[str, ...]] = {
    "conv": ("kernel", "stride", "cin", "cout", "hw"),
    "fmbconv": ("kernel", "expansion", "stride", "cin", "cout", "hw"),
    "skip": ("cin", "cout", "hw"),
    "gap": ("cin", "hw"),
    "linear": ("cin", "cout"),
}
DTYPES = ("float32",)

_TOKEN_PATTERNS = {
    "kernel": re.compile(r"k(\d+)"),
    "expansion": re.compile(r"e(\d+)"),
    "stride": re.compile(r"s(\d+)"),
    "cin": re.compile(r"cin(\d+)"),
    "cout": re.compile(r"cout(\d+)"),
    "hw": re.compile(r"h(\d+)w(\d+)"),
    "batch": re.compile(r"b(\d+)"),
}


class OpKeyError(HwnasError):
    """An op key that does not parse."""


def conv_out(size: int, stride: int) -> int:
    """Spatial output size of a 'same'-padded convolution with an odd kernel."""
    return (size - 1) // stride + 1


@dataclass(frozen=True, order=True)
class OpSpec:
    op: str
    cin: int
    cout: int = 0
    kernel: int = 1
    stride: int = 1
    expansion: int = 1
    h: int = 1
    w: int = 1
    batch: int = 1
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.op not in OP_FIELDS:
            raise OpKeyError(f"unknown op type {self.op!r}; known: {', '.join(OP_FIELDS)}")
        if self.op == "gap" and self.cout == 0:
            object.__setattr__(self, "cout", self.cin)
        used = OP_FIELDS[self.op]
        for name, default in (("kernel", 1), ("stride", 1), ("expansion", 1)):
            if name not in used and getattr(self, name) != default:
                raise OpKeyError(f"op {self.op!r} takes no {name} (got {getattr(self, name)})")
        if "hw" not in used and (self.h, self.w) != (1, 1):
            raise OpKeyError(f"op {self.op!r} takes no spatial size")
        for f in ("cin", "cout", "kernel", "stride", "expansion", "h", "w", "batch"):
            if getattr(self, f) < 1:
                raise OpKeyError(f"{self.op}: {f} must be >= 1 (got {getattr(self, f)})")
        if self.op in ("conv", "fmbconv") and self.kernel % 2 == 0:
            raise OpKeyError(f"{self.op}: kernel must be odd (got {self.kernel})")
        if self.op == "skip" and self.stride != 1:
            raise OpKeyError("skip cannot downsample")
        if self.op == "gap" and self.cout != self.cin:
            raise OpKeyError("gap keeps its channel count: cout must equal cin")
        if self.dtype not in DTYPES:
            raise OpKeyError(f"unsupported dtype {self.dtype!r}; supported: {', '.join(DTYPES)}")

    # ---- keys -----------------------------------------------------------------------------------
    @property
    def key(self) -> str:
        parts = [self.op]
        for token in OP_FIELDS[self.op]:
            if token == "hw":
                parts.append(f"h{self.h}w{self.w}")
            else:
                parts.append(f"{_prefix(token)}{getattr(self, token)}")
        if self.batch != 1:
            parts.append(f"b{self.batch}")
        if self.dtype != "float32":
            parts.append(self.dtype)
        return "-".join(parts)

    @classmethod
    def parse(cls, key: str) -> OpSpec:
        tokens = key.strip().split("-")
        op = tokens[0]
        if op not in OP_FIELDS:
            raise OpKeyError(f"bad op key {key!r}: unknown op type {op!r}; known: {', '.join(OP_FIELDS)}")
        values: dict[str, object] = {}
        expected = list(OP_FIELDS[op])
        for token in tokens[1:]:
            name = _match_token(token)
            if name is None:
                if token in DTYPES or token.startswith("float"):
                    values["dtype"] = token
                    continue
                raise OpKeyError(f"bad op key {key!r}: unrecognised token {token!r}")
            if name in values or (name == "hw" and "h" in values):
                raise OpKeyError(f"bad op key {key!r}: {name} given twice")
            m = _TOKEN_PATTERNS[name].fullmatch(token)
            assert m is not None
            if name == "hw":
                values["h"], values["w"] = int(m.group(1)), int(m.group(2))
            else:
                values[name] = int(m.group(1))
            if name in expected:
                expected.remove(name)
            elif name != "batch":
                raise OpKeyError(f"bad op key {key!r}: {op} takes no {name}")
        if expected:
            example = OpSpec.example(op).key
            raise OpKeyError(f"bad op key {key!r}: missing {', '.join(expected)} (example: {example})")
        return cls(op=op, **values)  # type: ignore[arg-type]

    @staticmethod
    def example(op: str) -> OpSpec:
        return {
            "conv": OpSpec("conv", 16, 32, kernel=3, stride=2, h=96, w=96),
            "fmbconv": OpSpec("fmbconv", 16, 32, kernel=3, expansion=4, stride=2, h=96, w=96),
            "skip": OpSpec("skip", 16, 16, h=48, w=48),
            "gap": OpSpec("gap", 32, h=6, w=6),
            "linear": OpSpec("linear", 128, 64),
        }[op]

    # ---- shapes and cost ------------------------------------------------------------------------
    @property
    def input_shape(self) -> tuple[int, ...]:
        if self.op == "linear":
            return (self.batch, self.cin)
        return (self.batch, self.cin, self.h, self.w)

    @property
    def output_shape(self) -> tuple[int, ...]:
        if self.op in ("linear", "gap"):
            return (self.batch, self.cout)
        return (self.batch, self.cout, conv_out(self.h, self.stride), conv_out(self.w, self.stride))

    @property
    def flops(self) -> int:
        """Floating-point operations of one inference, a multiply-add counted as two (BN folded)."""
        ho, wo = conv_out(self.h, self.stride), conv_out(self.w, self.stride)
        k2 = self.kernel * self.kernel
        if self.op == "conv":
            macs = k2 * self.cin * self.cout * ho * wo
        elif self.op == "fmbconv":
            if self.expansion == 1:
                macs = k2 * self.cin * self.cout * ho * wo
            else:
                hidden = self.cin * self.expansion
                macs = k2 * self.cin * hidden * ho * wo + hidden * self.cout * ho * wo
        elif self.op == "linear":
            macs = self.cin * self.cout
        else:  # skip and gap move data; gap adds every input once
            return self.batch * (self.cin * self.h * self.w if self.op == "gap" else 0)
        return 2 * self.batch * macs

    @property
    def params(self) -> int:
        """Trainable parameters of the built module (conv weights, BN affine, linear weight+bias)."""
        k2 = self.kernel * self.kernel
        if self.op == "conv":
            return k2 * self.cin * self.cout + 2 * self.cout
        if self.op == "fmbconv":
            if self.expansion == 1:
                return k2 * self.cin * self.cout + 2 * self.cout
            hidden = self.cin * self.expansion
            return k2 * self.cin * hidden + 2 * hidden + hidden * self.cout + 2 * self.cout
        if self.op == "linear":
            return self.cin * self.cout + self.cout
        return 0

    def build_module(self) -> torch.nn.Module:
        from hwnas import nn as hnn

        return hnn.build(self)


def _prefix(token: str) -> str:
    return {"kernel": "k", "expansion": "e", "stride": "s", "cin": "cin", "cout": "cout", "batch": "b"}[token]


def _match_token(token: str) -> str | None:
    for name, pattern in _TOKEN_PATTERNS.items():
        if pattern.fullmatch(token):
            return name
    return None
