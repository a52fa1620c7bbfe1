"""The conformance kit of search spaces: ``check_space("mobile")`` (see ``hwnas.testing``).

A space must load by its name (or path), declare presets whose op keys parse, cover in ``enumerate_ops`` every
op any of its architectures runs (the latency table holds exactly those), name a task that is installed, and
build networks whose supernet computes each derived child exactly.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import torch

from hwnas.ops import OpSpec
from hwnas.search.supernet import Supernet
from hwnas.space.architecture import Architecture
from hwnas.space.registry import get_space
from hwnas.tasks.registry import task_class
from hwnas.testing.kit import run_checks

SAMPLES = 8  # random architectures per preset


@dataclass
class _Kit:
    name: str
    presets: list[str]

    @property
    def space(self) -> Any:
        return get_space(self.name)

    def preset_objects(self) -> list[Any]:
        space = self.space
        return [space.preset(p) for p in self.presets or space.presets]

    def samples(self, preset) -> list[Architecture]:
        return [Architecture.sample(preset, random.Random(i)) for i in range(SAMPLES)]


def check_space(name: str, presets: tuple[str, ...] = ()) -> list[str]:
    """Run every check on the space ``name`` (registered, or a .toml path), on ``presets`` (default: all)."""
    return run_checks(f"space {name!r}", CHECKS, _Kit(name, list(presets)))


def check_loads(kit: _Kit) -> None:
    """Found by its name, with a description and presets."""
    space = kit.space
    assert space.presets, "the space declares no presets"
    assert isinstance(space.description, str) and space.description, "the space has no description"
    missing = sorted(set(kit.presets) - set(space.presets))
    assert not missing, f"no preset(s) {', '.join(missing)}; the space has {', '.join(space.presets)}"


def check_op_keys(kit: _Kit) -> None:
    """Each preset's ops are canonical keys that parse back, without duplicates."""
    for preset in kit.preset_objects():
        keys = [s.key for s in preset.enumerate_ops()]
        assert keys, f"preset {preset.preset!r} enumerates no ops"
        assert len(keys) == len(set(keys)), f"preset {preset.preset!r} lists an op twice"
        for key in keys:
            assert OpSpec.parse(key).key == key, f"{key} is not canonical"


def check_table_covers_every_architecture(kit: _Kit) -> None:
    """Every op of random architectures is among the preset's ops: a table of them predicts any network."""
    for preset in kit.preset_objects():
        ops = {s.key for s in preset.enumerate_ops()}
        for arch in kit.samples(preset):
            missing = sorted({s.key for s in arch.op_specs(preset)} - ops)
            assert not missing, f"preset {preset.preset!r}: architectures run ops it does not enumerate: {missing[:3]}"


def check_architectures_round_trip(kit: _Kit) -> None:
    """Random architectures are valid and survive their JSON form."""
    for preset in kit.preset_objects():
        for arch in kit.samples(preset):
            arch.validate(preset)
            assert Architecture.from_json(arch.to_json()) == arch, "an architecture changes through JSON"


def check_task_installed(kit: _Kit) -> None:
    """The task each preset names is installed (found through the ``hwnas.tasks`` entry points)."""
    for preset in kit.preset_objects():
        task_class(preset.task, preset.space)


def check_supernet_children(kit: _Kit) -> None:
    """The supernet with one architecture selected computes that architecture's network with the inherited
    weights, in training and in evaluation mode, for random architectures of each preset."""
    for preset in kit.preset_objects():
        torch.manual_seed(0)
        net = Supernet(preset)
        size = max(max(r) for r in preset.resolutions.values())
        for i, arch in enumerate(kit.samples(preset)[:3]):
            net.select(arch)
            child = net.child(arch)
            x = torch.randn(2, len(preset.views), *preset.input_hw(size))
            for training in (True, False):
                net.train(training)
                child.train(training)
                with torch.no_grad():
                    got, want = net(x), child(x)
                assert set(got) == set(want), f"preset {preset.preset!r}: the supernet's outputs differ in name"
                for key in want:
                    assert torch.allclose(got[key], want[key], atol=1e-5), (
                        f"preset {preset.preset!r}, architecture {i}, output {key}, training={training}: "
                        "the supernet differs from the child"
                    )


CHECKS = [
    check_loads,
    check_op_keys,
    check_table_covers_every_architecture,
    check_architectures_round_trip,
    check_task_installed,
    check_supernet_children,
]
