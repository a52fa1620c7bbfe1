"""Operator types — one file per type (key fields, FLOPs, params, torch module) — and the OpSpec value object.

Adding an op type is one new file that calls ``register(OpType(...))``, imported below.
"""

from hwnas.ops import conv, fmbconv, gap, linear, mbconv, skip  # noqa: F401  (each file registers its op type)
from hwnas.ops.registry import OP_TYPES, OpType, register
from hwnas.ops.spec import OpKeyError, OpSpec, OpTemplate, conv_out

__all__ = ["OP_TYPES", "OpKeyError", "OpSpec", "OpTemplate", "OpType", "conv_out", "register"]
