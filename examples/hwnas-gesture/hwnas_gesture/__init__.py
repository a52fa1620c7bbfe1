"""hwnas plugin example: the `gesture` task, the `gesture` space, the `sepconv` op type and the `onnx-reference`
backend (with its device preset `cpu-onnx-reference`)."""

from __future__ import annotations

from pathlib import Path

from hwnas.api import DeclaredSpace


def space() -> DeclaredSpace:
    """Entry point of group ``hwnas.searchspaces``: the space declared next to this file."""
    return DeclaredSpace.from_file(Path(__file__).with_name("gesture.toml"))
