"""hwnas plugin: the `mnist1d` task, the `mnist1d` space of 1-D CNNs and the `conv1d` / `sepconv1d` op types."""

from __future__ import annotations

from pathlib import Path

from hwnas.api import DeclaredSpace


def space() -> DeclaredSpace:
    """Entry point of group ``hwnas.searchspaces``: the space declared next to this file."""
    return DeclaredSpace.from_file(Path(__file__).with_name("mnist1d.toml"))
