"""OpSpec: one operator instance with every shape-affecting parameter; OpTemplate: a candidate op of a space.

The canonical key is human readable and parses back, e.g. ``fmbconv-k3-e4-s2-cin16-cout32-h96w96``.
Fields an op type does not use are left at their defaults and do not appear in its key; batch 1 and
float32 are the defaults and are omitted too, so each OpSpec has exactly one canonical key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hwnas.core.errors import OpKeyError
from hwnas.ops.registry import OP_TYPES, PLUGIN_FAILURES, OpType, known, lookup

if TYPE_CHECKING:
    import torch

DTYPES = ("float32",)
_PREFIX = {"kernel": "k", "expansion": "e", "stride": "s", "cin": "cin", "cout": "cout", "batch": "b"}
_TOKEN_PATTERNS = {
    "kernel": re.compile(r"k(\d+)"),
    "expansion": re.compile(r"e(\d+)"),
    "stride": re.compile(r"s(\d+)"),
    "cin": re.compile(r"cin(\d+)"),
    "cout": re.compile(r"cout(\d+)"),
    "hw": re.compile(r"h(\d+)w(\d+)"),
    "batch": re.compile(r"b(\d+)"),
}


def conv_out(size: int, stride: int) -> int:
    """Spatial output size of a 'same'-padded convolution with an odd kernel."""
    return (size - 1) // stride + 1


def op_type(name: str) -> OpType:
    found = lookup(name)
    if found is None:
        raise OpKeyError(f"unknown op type {name!r}; known: {known()}")
    return found


@dataclass(frozen=True, order=True)
class OpSpec:
    op: str  # a registered op type
    cin: int
    cout: int = 0  # types that keep their channel count (gap) set it to cin
    kernel: int = 1
    stride: int = 1
    expansion: int = 1  # Fused-MBConv's hidden width is cin * expansion
    h: int = 1  # input height and width; 1 for flat ops (linear)
    w: int = 1
    batch: int = 1
    dtype: str = "float32"

    def __post_init__(self) -> None:
        t = op_type(self.op)
        if "cout" not in t.fields:  # the type keeps its channel count
            if self.cout not in (0, self.cin):
                raise OpKeyError(f"{self.op} keeps its channel count: cout must equal cin")
            object.__setattr__(self, "cout", self.cin)
        for name in ("kernel", "stride", "expansion"):
            if name not in t.fields and getattr(self, name) != 1:
                raise OpKeyError(f"op {self.op!r} takes no {name} (got {getattr(self, name)})")
        if not t.spatial and (self.h, self.w) != (1, 1):
            raise OpKeyError(f"op {self.op!r} takes no spatial size")
        for f in ("cin", "cout", "kernel", "stride", "expansion", "h", "w", "batch"):
            if getattr(self, f) < 1:
                raise OpKeyError(f"{self.op}: {f} must be >= 1 (got {getattr(self, f)})")
        if "kernel" in t.fields and self.kernel % 2 == 0:
            raise OpKeyError(f"{self.op}: kernel must be odd (got {self.kernel})")
        if self.dtype not in DTYPES:
            raise OpKeyError(f"unsupported dtype {self.dtype!r}; supported: {', '.join(DTYPES)}")

    @property
    def op_type(self) -> OpType:
        return OP_TYPES[self.op]

    # ---- keys -----------------------------------------------------------------------------------
    @property
    def key(self) -> str:
        parts = [self.op]
        for token in self.op_type.fields:
            parts.append(f"h{self.h}w{self.w}" if token == "hw" else f"{_PREFIX[token]}{getattr(self, token)}")
        if self.batch != 1:
            parts.append(f"b{self.batch}")
        if self.dtype != "float32":
            parts.append(self.dtype)
        return "-".join(parts)

    @classmethod
    def parse(cls, key: str) -> OpSpec:
        op, *tokens = key.strip().split("-")
        t = lookup(op)
        if t is None:
            raise OpKeyError(f"bad op key {key!r}: unknown op type {op!r}; known: {known()}")
        values = _parse_tokens(tokens, key, allowed=(*t.fields, "batch"))
        missing = [f for f in t.fields if f not in values and not (f == "hw" and "h" in values)]
        if missing:
            raise OpKeyError(f"bad op key {key!r}: missing {', '.join(missing)} (example: {t.example})")
        return cls(op=op, **values)  # type: ignore[arg-type]

    # ---- shapes and cost ------------------------------------------------------------------------
    @property
    def out_h(self) -> int:
        return conv_out(self.h, self.stride)

    @property
    def out_w(self) -> int:
        return conv_out(self.w, self.stride)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.batch, self.cin, self.h, self.w) if self.op_type.spatial else (self.batch, self.cin)

    @property
    def output_shape(self) -> tuple[int, ...]:
        if not self.op_type.spatial or self.op_type.pools:
            return (self.batch, self.cout)
        return (self.batch, self.cout, self.out_h, self.out_w)

    @property
    def flops(self) -> int:
        """Floating-point operations of one inference, a multiply-add counted as two (BN folded)."""
        t = self.op_type
        return self.batch * t.macs(self) * (1 if t.counts_adds else 2)

    @property
    def params(self) -> int:
        """Trainable parameters of the built module (conv weights, BN affine, linear weight+bias)."""
        return self.op_type.params(self)

    def build_module(self) -> torch.nn.Module:
        return self.op_type.build(self).eval()


@dataclass(frozen=True)
class OpTemplate:
    """A candidate op of a searchable layer without its shape: ``fmbconv-k3-e4``, ``conv-k3``, ``skip``."""

    op: str
    kernel: int = 1
    expansion: int = 1

    @classmethod
    def parse(cls, text: str) -> OpTemplate:
        op, *tokens = text.split("-")
        t = lookup(op)
        if t is None or not t.searchable:
            searchable = ", ".join(n for n, s in OP_TYPES.items() if s.searchable)
            failed = "".join(f"; {f.describe()}" for f in PLUGIN_FAILURES)
            raise OpKeyError(f"bad candidate op {text!r}: searchable op types are {searchable}{failed}")
        values = _parse_tokens(tokens, text, allowed=t.template_fields)
        missing = [f for f in t.template_fields if f not in values]
        if missing:
            example = "-".join(p for p in t.example.split("-") if not p.startswith(("s", "cin", "cout", "h")))
            raise OpKeyError(f"bad candidate op {text!r}: give {', '.join(missing)} (e.g. {example})")
        return cls(op, **values)

    @property
    def name(self) -> str:
        return "-".join([self.op, *(f"{_PREFIX[f]}{getattr(self, f)}" for f in OP_TYPES[self.op].template_fields)])

    def fits(self, stride: int) -> bool:
        """A type without a stride (skip) cannot fill a layer that downsamples."""
        return stride == 1 or "stride" in OP_TYPES[self.op].fields

    def instantiate(self, cin: int, cout: int, stride: int, size: int, height: int | None = None) -> OpSpec:
        """The op on an input ``size`` wide and ``height`` high (None: square)."""
        with_stride = {"stride": stride} if "stride" in OP_TYPES[self.op].fields else {}
        h = size if height is None else height
        return OpSpec(self.op, cin, cout, self.kernel, expansion=self.expansion, h=h, w=size, **with_stride)


def _parse_tokens(tokens: list[str], key: str, allowed: tuple[str, ...]) -> dict[str, object]:
    values: dict[str, object] = {}
    for token in tokens:
        name = next((n for n, p in _TOKEN_PATTERNS.items() if p.fullmatch(token)), None)
        if name is None:
            if token in DTYPES or token.startswith("float"):
                values["dtype"] = token
                continue
            raise OpKeyError(f"bad op key {key!r}: unrecognised token {token!r}")
        if name in values or (name == "hw" and "h" in values):
            raise OpKeyError(f"bad op key {key!r}: {name} given twice")
        if name not in allowed:
            raise OpKeyError(f"bad op key {key!r}: {key.split('-')[0]} takes no {name}")
        m = _TOKEN_PATTERNS[name].fullmatch(token)
        assert m is not None
        if name == "hw":
            values["h"], values["w"] = int(m.group(1)), int(m.group(2))
        else:
            values[name] = int(m.group(1))
    return values
