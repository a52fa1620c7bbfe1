"""Atomic files: everything hwnas writes goes to a temporary sibling first and is renamed into place, so a
crash or a refusal never leaves a half-written file behind."""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hwnas.core.errors import HwnasError


def check_writable(given: Path, option: str, *, is_file: bool = False) -> None:
    """Refuse, before any work, a folder (or a file's folder) that cannot be created or written. The check
    creates what is missing and a probe file in it, then removes both: permission bits alone miss read-only
    mounts, immutable folders and pseudo-filesystems (root cannot write under /sys either)."""
    given = Path(given)
    path = given.parent if is_file else given
    if is_file and given.is_dir():
        raise HwnasError(f"{option} {given} is a folder; give a file path")
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise HwnasError(f"{option} {given}: {existing} is a file, not a folder; pick another {option}")
    created = [p for p in (path, *path.parents) if not p.exists()]
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".hwnas-probe-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        where = f" (its folder {path})" if is_file else ""
        raise HwnasError(f"{option} {given} cannot be written{where}: {exc.strerror}; pick another {option}") from None
    finally:
        for folder in created:  # deepest first; only what this check made, and only while empty
            with contextlib.suppress(OSError):
                folder.rmdir()


def unwritable(path: Path, exc: OSError) -> HwnasError:
    """An OSError met while writing ``path``, as the one line the user reads."""
    return HwnasError(f"cannot write {path} ({exc.strerror or exc}); free space or pick another place for it")


def staging_path(path: Path) -> Path:
    """A hidden sibling of ``path`` unique to this process."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``, on error it is removed. An OSError
    (no permission, a full disk, a read-only mount) becomes a one-line HwnasError naming ``path``."""
    path = Path(path)
    tmp = staging_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        raise unwritable(path, exc) from None
    finally:
        with contextlib.suppress(OSError):
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
