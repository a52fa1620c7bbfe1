"""Checkpoints: state dicts, numbers and lists only, so a file loads with ``weights_only=True``; written
atomically, so a kill while saving leaves the previous checkpoint intact."""

from __future__ import annotations

from pathlib import Path

import torch

from hwnas.core.errors import HwnasError
from hwnas.core.files import atomic_path


def save_checkpoint(path: Path, state: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: Path, keys: tuple[str, ...] = ()) -> dict:
    """The checkpoint's state; ``keys`` it must hold (one written by an older hwnas may lack them)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, garbage, or a pickle that is not plain state
        raise HwnasError(
            f"checkpoint {path} is unreadable ({type(exc).__name__}); delete it to start that run again"
        ) from None
    missing = [k for k in keys if not isinstance(state, dict) or k not in state]
    if missing:
        raise HwnasError(
            f"checkpoint {path} lacks {', '.join(missing)} (written by another hwnas version?); delete it to start "
            "that run again"
        )
    return state
