"""The conformance kit of tasks: ``check_task("gesture", space="gesture-space")`` (see ``hwnas.testing``).

A task must be registered, declare its options as a frozen dataclass with defaults, build for a request of a
space that names it, keep its held-out examples apart, hand out batches in the space's view order, and give a
finite loss with a gradient that reaches the network's weights — from a stand-alone network and from the
supernet alike — and JSON-serialisable metrics and settings.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import torch

from hwnas.search.supernet import Supernet
from hwnas.space.architecture import Architecture
from hwnas.space.registry import get_preset
from hwnas.tasks.registry import create_task, task_class
from hwnas.testing.kit import run_checks
from hwnas.train.objective import Task, TaskRequest

BATCH = 8


@dataclass
class _Kit:
    name: str
    space: str
    preset: str
    options: dict[str, Any]

    @cached_property
    def space_preset(self) -> Any:
        return get_preset(self.space, self.preset)

    @cached_property
    def task(self) -> Task:
        cls = task_class(self.name)
        return create_task(cls, TaskRequest(self.preset, seed=0, space=self.space_preset, options=self.options))

    def network(self) -> torch.nn.Module:
        arch = Architecture.sample(self.space_preset, random.Random(0))
        return self.task.network(arch, self.space_preset)


def check_task(name: str, space: str, preset: str = "tiny", options: dict[str, Any] | None = None) -> list[str]:
    """Run every check on the task registered as ``name``, built for ``space``'s ``preset`` with ``options``."""
    return run_checks(f"task {name!r}", CHECKS, _Kit(name, space, preset, dict(options or {})))


def check_registered(kit: _Kit) -> None:
    """Found under its name (``hwnas.tasks`` entry points), named by the space, and built for it."""
    cls = task_class(kit.name)
    assert kit.space_preset.task == kit.name, f"space {kit.space!r} names task {kit.space_preset.task!r}"
    assert cls.name == kit.name, f"the class says its name is {cls.name!r}, registered as {kit.name!r}"
    assert isinstance(kit.task, Task)


def check_options(kit: _Kit) -> None:
    """``Options`` is a frozen dataclass whose every option has a default; the built task records its settings
    as JSON."""
    options = task_class(kit.name).Options
    assert dataclasses.is_dataclass(options), "Options must be a dataclass"
    assert options.__dataclass_params__.frozen, "Options must be frozen (@dataclass(frozen=True))"
    no_default = [f.name for f in dataclasses.fields(options) if f.default is dataclasses.MISSING]
    assert not no_default, f"options without a default: {', '.join(no_default)}"
    json.dumps(kit.task.settings())


def check_pools(kit: _Kit) -> None:
    """Training and held-out examples are both there and never the same."""
    train, test = set(kit.task.train_pool().tolist()), set(kit.task.test_pool().tolist())
    assert train and test, "a pool is empty"
    assert not train & test, f"{len(train & test)} examples are in both pools"


def check_batch(kit: _Kit) -> None:
    """``batch`` gives ``views`` (batch, views, H, W) in the space's view order — a tensor, or a ``ViewPyramid``
    of such tensors, one per resolution — the same for the same seed."""
    idx = kit.task.train_pool()[:BATCH]
    views = kit.task.batch(idx)["views"]
    again = create_task(task_class(kit.name), TaskRequest(kit.preset, seed=0, space=kit.space_preset,
                                                          options=kit.options)).batch(idx)["views"]  # fmt: skip
    tensors = list(views.values()) if isinstance(views, dict) else [views]
    others = list(again.values()) if isinstance(again, dict) else [again]
    for v, w in zip(tensors, others, strict=True):
        assert v.shape[:2] == (len(idx), len(kit.space_preset.views)), f"views of shape {tuple(v.shape)}"
        assert torch.equal(v, w), "the same seed gives other examples"


def check_loss(kit: _Kit) -> None:
    """The loss (and the selection loss) of a network's outputs is a finite scalar whose gradient reaches the
    network's weights; the scores are finite floats."""
    task, net = kit.task, kit.network().train()
    batch = task.batch(task.train_pool()[:BATCH])
    for name in ("loss", "selection_loss"):
        net.zero_grad()
        value = getattr(task, name)(net(batch["views"]), batch, 0)
        assert value.ndim == 0 and torch.isfinite(value), f"{name} is {value}"
        assert value.requires_grad, f"{name} does not depend on the network's outputs: it has no gradient"
        value.backward()
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters()), f"{name} has no gradient"
    with torch.no_grad():
        outputs = net(batch["views"])
        for name in ("score", "selection_score"):
            score = getattr(task, name)(outputs, batch)
            assert isinstance(score, float) and math.isfinite(score), f"{name} is {score!r}"


def check_supernet_outputs(kit: _Kit) -> None:
    """The loss takes the supernet's outputs as it takes a stand-alone network's (the search trains on them)."""
    task, net = kit.task, Supernet(kit.space_preset)
    batch = task.batch(task.train_pool()[:BATCH])
    value = task.loss(net(batch["views"]), batch, 0)
    assert value.ndim == 0 and torch.isfinite(value), f"loss on the supernet's outputs is {value}"


def check_evaluate(kit: _Kit) -> None:
    """``evaluate`` gives JSON-serialisable metrics and ``summary`` lines of text."""
    metrics = kit.task.evaluate(kit.network().eval())
    json.dumps(metrics)
    lines = kit.task.summary(metrics)
    assert lines and all(isinstance(line, str) for line in lines), "summary must be lines of text"


CHECKS = [check_registered, check_options, check_pools, check_batch, check_loss, check_supernet_outputs, check_evaluate]
