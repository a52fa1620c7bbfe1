"""Import paths that plugins used before the layout by pipeline stage keep working: an old name is the module
that now lives elsewhere (the same object, so classes compare equal), imported with a DeprecationWarning that
names the new path. Consulted only for the names below and what lies under them."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import types
import warnings

MOVED = {
    "hwnas.errors": "hwnas.core.errors",
    "hwnas.measurement": "hwnas.core.measurement",
    "hwnas.plots": "hwnas.core.plots",
    "hwnas.backends": "hwnas.measure.backends",
    "hwnas.devices": "hwnas.measure.devices",
    "hwnas.store": "hwnas.measure.store",
    "hwnas.profiler": "hwnas.measure.profiler",
    "hwnas.calibration": "hwnas.measure.calibration",
    "hwnas.artifacts": "hwnas.measure.artifacts",
    "hwnas.measure_worker": "hwnas.measure.worker",
    "hwnas.architecture": "hwnas.space.architecture",
    "hwnas.network": "hwnas.space.network",
    "hwnas.searchspaces": "hwnas.space.registry",
    "hwnas.searchspaces.declarative": "hwnas.space.declared",
    "hwnas.rundir": "hwnas.train.rundir",
    "hwnas.digits": "hwnas.tasks.digits",
    # the avatar application moved out of the generic packages into its own wing
    "hwnas.tasks.avatar": "hwnas.apps.avatar",
    "hwnas.tasks.avatar.avatar_task": "hwnas.apps.avatar.task",
    "hwnas.deploy.early_head": "hwnas.apps.avatar.latex.early_head",
    "hwnas.deploy.extrapolation": "hwnas.apps.avatar.latex.extrapolation",
    "hwnas.deploy.view_heads": "hwnas.apps.avatar.latex.view_heads",
    "hwnas.workflows.latex": "hwnas.apps.avatar.latex.workflow",
    "hwnas.cli.latex": "hwnas.apps.avatar.latex.command",
}


def new_name(old: str) -> str | None:
    """Where ``old`` lives now: its own entry, or that of the moved package it lies under."""
    if old in MOVED:
        return MOVED[old]
    package = old.rpartition(".")[0]
    while package:
        if package in MOVED:
            return f"{MOVED[package]}.{old[len(package) + 1 :]}"
        package = package.rpartition(".")[0]
    return None


class MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        return importlib.util.spec_from_loader(fullname, self) if new_name(fullname) else None

    def create_module(self, spec):
        target = new_name(spec.name)
        warnings.warn(
            f"{spec.name} moved to {target}; import it from there ({spec.name} will be removed)",
            DeprecationWarning,
            stacklevel=2,  # the importer's line: warnings skips the import machinery's frames
        )
        module = importlib.import_module(target)
        if hasattr(module, "__path__") or not any(old.startswith(f"{spec.name}.") for old in MOVED):
            return module
        # an old package that is a module now (hwnas.searchspaces): the same objects, and a __path__ under which
        # its old submodules are found (by this finder only)
        package = types.ModuleType(spec.name, module.__doc__)
        package.__dict__.update({k: v for k, v in vars(module).items() if not k.startswith("__")})
        package.__path__ = []
        return package

    def exec_module(self, module) -> None:
        """The module is the one already imported under its new name: nothing to run."""


def install() -> None:
    """First on the meta path, so that no other finder loads a moved module a second time under its old name
    (``hwnas.backends.ort`` found inside the package that ``hwnas.backends`` now is)."""
    if not any(isinstance(f, MovedModules) for f in sys.meta_path):
        sys.meta_path.insert(0, MovedModules())
