"""Atomic files: everything hwnas writes goes to a temporary sibling first and is renamed into place, so a
crash or a refusal never leaves a half-written file behind."""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hwnas.core.errors import HwnasError


def check_writable(path: Path, option: str) -> None:
    """Refuse, before any work, a folder that cannot be created or written: the nearest existing ancestor must
    be a writable folder."""
    path = Path(path)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise HwnasError(f"{option} {path}: {existing} is a file, not a folder; pick another {option}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise HwnasError(f"{option} {path}: {existing} is not writable; pick another {option}")


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
    """Strict JSON: a NaN or an infinity (which json would write as NaN/Infinity, unreadable elsewhere) is
    refused before anything is written; ``without_non_finite`` turns them into nulls where that is meant."""
    try:
        text = json.dumps(data, indent=2, allow_nan=False, **dumps)
    except ValueError as exc:
        raise HwnasError(f"refusing to write {path}: {exc}") from None
    return write_text(path, text + "\n")


def without_non_finite(data: Any) -> Any:
    """``data`` with every NaN or infinite float replaced by None (JSON null)."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: without_non_finite(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [without_non_finite(v) for v in data]
    return data
