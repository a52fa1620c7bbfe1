"""A run directory belongs to one configuration: resuming with other settings is refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hwnas.errors import HwnasError


def bind_config(run_dir: Path, config: dict[str, Any], name: str = "config.json") -> None:
    """Write the configuration on first use; afterwards insist on the same one."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / name
    config = json.loads(json.dumps(config))  # the form it has on disk (tuples become lists)
    if path.exists():
        previous = json.loads(path.read_text())
        if previous != config:
            changed = sorted(k for k in previous.keys() | config.keys() if previous.get(k) != config.get(k))
            raise HwnasError(
                f"{run_dir} holds a run with other settings ({', '.join(changed)}); "
                "use another directory, or the same settings to resume"
            )
    else:
        path.write_text(json.dumps(config, indent=2))
