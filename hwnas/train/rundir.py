"""A run directory belongs to one configuration: resuming with other settings is refused."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from hwnas.core.errors import HwnasError
from hwnas.core.files import write_json
from hwnas.core.userfiles import parse_json, read_text


def read_json(path: Path) -> dict[str, Any]:
    fix = "delete its folder to start that run again"
    data = parse_json(read_text(path, "run file", fix), str(path), fix)
    if not isinstance(data, dict):
        raise HwnasError(f"{path} is not a JSON object; delete its folder to start that run again")
    return data


BEFORE = "before"  # field metadata: what ran before a setting existed, where that is not its default


def defaults_of(config_class: type) -> dict[str, Any]:
    """What a folder written before a setting existed ran (``bind_config``'s ``defaults``): each setting's
    ``BEFORE`` metadata where it has one, else its default."""
    return {
        f.name: f.metadata.get(BEFORE, f.default)
        for f in dataclasses.fields(config_class)
        if f.default is not dataclasses.MISSING
    }


def with_task_settings(config: dict[str, Any], settings: dict[str, Any], task: str) -> dict[str, Any]:
    """A run's configuration with its task's settings beside its own keys (flat, as folders have always held
    them); a task setting that bears the name of a run setting is refused."""
    clash = sorted(config.keys() & settings.keys())
    if clash:
        raise HwnasError(f"task {task!r} has setting(s) {', '.join(clash)}, named like run settings; rename them")
    return {**config, **settings}


def bind_config(
    run_dir: Path,
    config: dict[str, Any],
    name: str = "config.json",
    defaults: dict[str, Any] | None = None,
    retired: dict[str, Any] | None = None,
) -> None:
    """Write the configuration on first use; afterwards insist on the same one. A setting the written one lacks
    (a folder from a version before the setting existed) counts as at its value in ``defaults``; one it holds at
    its value in ``retired`` that ``config`` no longer has (a setting that moved away) counts as absent."""
    path = Path(run_dir) / name
    config = json.loads(json.dumps(config))  # the form it has on disk (tuples become lists)
    if path.exists():
        previous = {**json.loads(json.dumps(defaults or {})), **read_json(path)}
        for key, value in (retired or {}).items():
            if key not in config and previous.get(key, value) == value:
                previous.pop(key, None)
        if previous != config:
            changed = sorted(k for k in previous.keys() | config.keys() if previous.get(k) != config.get(k))
            raise HwnasError(
                f"{run_dir} holds a run with other settings ({', '.join(changed)}); "
                "use another directory, or the same settings to resume"
            )
    else:
        write_json(path, config)
