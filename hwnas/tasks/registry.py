"""Task registry: built-ins plus the entry-point group ``hwnas.tasks``.

A space names its task (``task = "digits"`` in its TOML); an entry point of that name gives a subclass of
``hwnas.train.objective.Task``, so a third party brings its own data and loss without editing hwnas.
"""

from __future__ import annotations

from dataclasses import replace
from importlib import metadata

from hwnas.core.errors import HwnasError
from hwnas.core.registry import load_target
from hwnas.space.declared import SpacePreset
from hwnas.train.objective import Task, TaskRequest

ENTRY_POINT_GROUP = "hwnas.tasks"
BUILTINS = {
    "digits": "hwnas.tasks.digits:DigitsTask",
}


def discover() -> dict[str, str]:
    """Task name -> ``module:Class``."""
    targets = dict(BUILTINS)
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        targets.setdefault(ep.name, ep.value)
    return targets


def task_class(name: str, space: str | None = None) -> type[Task]:
    targets = discover()
    if name not in targets:
        owner = f"space {space!r} declares task {name!r}, which" if space else f"task {name!r}:"
        raise HwnasError(
            f"{owner} no installed plugin provides; known tasks: {', '.join(sorted(targets))} "
            f"(a plugin registers its Task class under the entry-point group {ENTRY_POINT_GROUP})"
        )
    try:
        cls = load_target(targets[name])
    except Exception as exc:  # a broken plugin is named with its reason
        raise HwnasError(f"task {name!r} ({targets[name]}) failed to load: {type(exc).__name__}: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, Task)):
        raise HwnasError(f"task {name!r} ({targets[name]}) is not a subclass of hwnas.train.objective.Task")
    return cls


def create_task(cls: type[Task], request: TaskRequest) -> Task:
    """``cls`` built for the request, its options checked first and kept on the task (``task.options``), where
    ``settings()`` finds them to record."""
    options = cls.read_options(request)
    task = cls.create(replace(request, options=options))
    task.options = options
    return task


def build_task(space: SpacePreset, request: TaskRequest) -> Task:
    """The task a space declares, built for the request."""
    return create_task(task_class(space.task, space.space), replace(request, space=space))


def baseline_task(encoder: str) -> type[Task]:
    """The task whose hand-designed encoders include ``encoder`` (a baseline's name -> its task)."""
    for name in discover():
        if encoder in _baselines_of(name):
            return task_class(name)
    known = sorted({b for name in discover() for b in _baselines_of(name)})
    raise HwnasError(f"unknown encoder {encoder!r}; available: {', '.join(known)} or an architecture .json")


def _baselines_of(name: str) -> tuple[str, ...]:
    """The task's baselines; none when it does not load (a broken plugin is named where it is used)."""
    try:
        return tuple(task_class(name).baselines)
    except HwnasError:
        return ()
