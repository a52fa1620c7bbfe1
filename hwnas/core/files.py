"""Atomic files: everything hwnas writes goes to a temporary sibling first and is renamed into place, so a
crash or a refusal never leaves a half-written file behind."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def staging_path(path: Path) -> Path:
    """A hidden sibling of ``path`` unique to this process."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = staging_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json(path: Path, data: Any, **dumps: Any) -> Path:
    return write_text(path, json.dumps(data, indent=2, **dumps) + "\n")
