"""Entry point of the ``avatar`` space (group ``hwnas.searchspaces``): the declaration beside this module."""

from __future__ import annotations

from pathlib import Path

from hwnas.space.declared import DeclaredSpace


def avatar() -> DeclaredSpace:
    return DeclaredSpace.from_file(Path(__file__).with_name("avatar.toml"))
