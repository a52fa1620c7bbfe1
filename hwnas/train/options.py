"""A task's own options: ``--task-option KEY=VALUE`` read, checked against the task's ``Options`` dataclass, and
described when they are wrong."""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from hwnas.core.errors import HwnasError
from hwnas.core.userfiles import validate


def split_options(pairs: Iterable[str]) -> dict[str, Any]:
    """``KEY=VALUE`` texts as a dict; a value is read as JSON where it is one (``0.1``, ``false``), else as text."""
    options: dict[str, Any] = {}
    for text in pairs:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise HwnasError(f"--task-option takes KEY=VALUE, not {text!r}")
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value
    return options


def describe_options(task: str, options: type) -> str:
    """``name (type, default value)`` of each option of a task, or that it has none."""
    hints = typing.get_type_hints(options)
    described = [f"{f.name} ({_type_name(hints[f.name])}, default {f.default!r})" for f in dataclasses.fields(options)]
    return f"task {task!r} takes " + (", ".join(described) if described else "no options")


def _type_name(hint: Any) -> str:
    hint = typing.get_args(hint)[0] if typing.get_origin(hint) is typing.Annotated else hint
    return getattr(hint, "__name__", str(hint))


def parse_options(task: str, options: type, given: Mapping[str, Any] | Any) -> Any:
    """``given`` checked against the task's ``options`` dataclass (strict types, constraints, unknown keys
    refused) and completed with the defaults; an instance of it is taken as it is."""
    if isinstance(given, options):
        return given
    return validate(options, dict(given), f"task option of {task!r}", describe_options(task, options))
