"""What the registries share: loading a ``module:attribute`` target, as entry points name them."""

from __future__ import annotations

import importlib
from typing import Any


def load_target(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)
