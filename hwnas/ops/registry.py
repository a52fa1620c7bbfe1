"""The op-type registry: one ``OpType`` per operator type, each registered by its own file in ``hwnas/ops/``.

An op type says which key tokens it uses, how many FLOPs and parameters an instance has and which torch
module runs it. Everything else — key parsing, validation, shapes, candidate templates — is generic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from hwnas.core.registry import PluginFailure

ENTRY_POINT_GROUP = "hwnas.ops"

# Key tokens in key order. A layer of a search space sets the shape tokens; a candidate op template
# (``fmbconv-k3-e4``) fixes the others.
KEY_TOKENS = ("kernel", "expansion", "stride", "cin", "cout", "hw")
SHAPE_TOKENS = ("stride", "cin", "cout", "hw")


@dataclass(frozen=True)
class OpType:
    name: str
    fields: tuple[str, ...]  # the key tokens this type uses (subset of KEY_TOKENS)
    example: str  # a valid key, shown in error messages
    macs: Callable[[Any], int]  # of an OpSpec: multiply-adds of one batch item (BN folded), or additions
    params: Callable[[Any], int]  # of an OpSpec
    build: Callable[[Any], Any]  # OpSpec -> torch module
    pools: bool = False  # spatial input, flat output (global pooling)
    counts_adds: bool = False  # ``macs`` are plain additions: one FLOP each, not two

    def __post_init__(self) -> None:
        unknown = set(self.fields) - set(KEY_TOKENS)
        if unknown or "cin" not in self.fields:
            raise ValueError(f"op type {self.name!r}: fields must include cin and come from {KEY_TOKENS}")
        object.__setattr__(self, "fields", tuple(t for t in KEY_TOKENS if t in self.fields))

    @property
    def spatial(self) -> bool:
        return "hw" in self.fields

    @property
    def template_fields(self) -> tuple[str, ...]:
        """What a candidate template fixes (kernel, expansion); the layer gives the rest."""
        return tuple(t for t in self.fields if t not in SHAPE_TOKENS)

    @property
    def searchable(self) -> bool:
        """Can fill a searchable layer: spatial in and out, with its own output width."""
        return self.spatial and "cout" in self.fields and not self.pools


OP_TYPES: dict[str, OpType] = {}
PLUGIN_FAILURES: list[PluginFailure] = []  # op-type plugins that did not load, with why
_plugins_loaded = False


def register(op_type: OpType) -> OpType:
    if op_type.name in OP_TYPES:
        raise ValueError(f"op type {op_type.name!r} is registered twice")
    OP_TYPES[op_type.name] = op_type
    return op_type


def load_plugins() -> None:
    """Load the op types of installed plugins, once: an entry point of ``hwnas.ops`` names an ``OpType`` (which
    is registered) or a module that registers its types when imported."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = ep.load()
            if isinstance(loaded, OpType) and OP_TYPES.get(loaded.name) is not loaded:
                register(loaded)
        except Exception as exc:  # named where an op type is missing, and by the listing commands
            PLUGIN_FAILURES.append(PluginFailure.of(ep, exc))


def lookup(name: str) -> OpType | None:
    """The op type ``name``, built-in or from a plugin (loaded the first time a name is not built in)."""
    if name not in OP_TYPES:
        load_plugins()
    return OP_TYPES.get(name)


def known() -> str:
    """The registered op types, and the plugins that failed to bring theirs: for error messages."""
    load_plugins()
    failed = "".join(f"; {f.describe()}" for f in PLUGIN_FAILURES)
    return ", ".join(OP_TYPES) + failed
