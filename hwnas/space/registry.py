"""Search-space registry: built-ins plus the entry-point group ``hwnas.searchspaces``.

An entry point names a zero-argument callable returning a ``SearchSpace``: an object with ``name``,
``description``, ``presets`` and ``preset(name)``, whose result has ``enumerate_ops()``. A path to a TOML
declaration works wherever a space name does.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Protocol

from hwnas.core.errors import HwnasError
from hwnas.ops import OpSpec
from hwnas.space.declared import DeclaredSpace, digits, mobile

ENTRY_POINT_GROUP = "hwnas.searchspaces"
BUILTINS: dict[str, Callable[[], object]] = {"digits": digits, "mobile": mobile}  # applications: entry points


class Preset(Protocol):
    space: str
    preset: str

    def enumerate_ops(self) -> list[OpSpec]: ...


class SearchSpace(Protocol):
    name: str
    description: str

    @property
    def presets(self) -> list[str]: ...

    def preset(self, name: str) -> Preset: ...


def discover() -> dict[str, Callable[[], object]]:
    factories = dict(BUILTINS)
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in BUILTINS:
            factories[ep.name] = lambda ep=ep: ep.load()()
    return factories


def get_space(name: str) -> SearchSpace:
    if name.endswith(".toml"):
        return DeclaredSpace.from_file(Path(name))
    factories = discover()
    if name not in factories:
        raise HwnasError(
            f"unknown search space {name!r}; known: {', '.join(sorted(factories))} "
            "(or pass a path to a .toml declaration)"
        )
    try:
        space = factories[name]()
    except HwnasError:
        raise
    except Exception as exc:
        raise HwnasError(f"search space {name!r} failed to load: {type(exc).__name__}: {exc}") from None
    return space  # type: ignore[return-value]


def get_preset(space: str, preset: str) -> Preset:
    return get_space(space).preset(preset)
