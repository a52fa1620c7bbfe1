"""What the registries share: loading a ``module:attribute`` target, as entry points name them, and telling the
user, once, which installed plugin failed to load and why."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from typing import Any


def load_target(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


@dataclass(frozen=True)
class PluginFailure:
    """One entry point of an installed distribution that could not be loaded."""

    distribution: str
    group: str
    name: str
    target: str
    reason: str

    @classmethod
    def of(cls, ep: metadata.EntryPoint, exc: BaseException | str) -> PluginFailure:
        reason = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
        dist = ep.dist.name if ep.dist else "?"
        return cls(dist, ep.group, ep.name, ep.value, reason.strip().splitlines()[0] if reason.strip() else reason)

    def describe(self) -> str:
        return (
            f"plugin {self.distribution} failed to load ({self.group}: {self.name} = {self.target}): {self.reason}; "
            f"fix it or uninstall it (pip uninstall {self.distribution})"
        )


def failed_entry_points(groups: Iterable[str]) -> list[PluginFailure]:
    """Every entry point of ``groups`` whose target cannot be imported."""
    failures = []
    for group in groups:
        for ep in metadata.entry_points(group=group):
            try:
                ep.load()
            except Exception as exc:
                failures.append(PluginFailure.of(ep, exc))
    return failures
