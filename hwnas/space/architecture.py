"""Architecture: the discrete result of a search — per branch an op and width per layer, per view a resolution.

JSON in and out; lists the OpSpecs it is made of (so a LatencyTable predicts it) and counts its FLOPs.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from pydantic import PositiveInt

from hwnas.core.errors import HwnasError
from hwnas.core.files import write_text
from hwnas.core.userfiles import Schema, parse_json, read_text, validate
from hwnas.ops import OpSpec
from hwnas.space.declared import SpacePreset, strided


class _LayerFile(Schema):
    op: str
    width: PositiveInt


class _BranchFile(Schema):
    view: str
    branch: str
    layers: list[_LayerFile]


class ArchitectureFile(Schema):
    """The JSON form of an Architecture (what ``to_json`` writes)."""

    space: str
    preset: str
    resolutions: dict[str, PositiveInt]
    branches: list[_BranchFile]


@dataclass(frozen=True)
class LayerChoice:
    op: str  # a candidate template name: "fmbconv-k3-e4", "conv-k3", "skip"
    width: int


@dataclass(frozen=True)
class BranchChoice:
    view: str
    branch: str
    layers: tuple[LayerChoice, ...]


@dataclass(frozen=True)
class Architecture:
    space: str
    preset: str
    resolutions: dict[str, int]
    branches: tuple[BranchChoice, ...]

    # ---- JSON ----------------------------------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps(
            {
                "space": self.space,
                "preset": self.preset,
                "resolutions": self.resolutions,
                "branches": [
                    {"view": b.view, "branch": b.branch, "layers": [{"op": c.op, "width": c.width} for c in b.layers]}
                    for b in self.branches
                ],
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str, source: str = "<json>") -> Architecture:
        where, fix = f"architecture {source}", "write it as `hwnas search` does (see its arch.json)"
        raw = validate(ArchitectureFile, parse_json(text, where, fix), where, fix)
        return cls(
            space=raw.space,
            preset=raw.preset,
            resolutions=dict(raw.resolutions),
            branches=tuple(
                BranchChoice(b.view, b.branch, tuple(LayerChoice(c.op, c.width) for c in b.layers))
                for b in raw.branches
            ),
        )

    @classmethod
    def load(cls, path: Path) -> Architecture:
        text = read_text(path, "architecture file", "pass the arch.json that `hwnas search` wrote")
        return cls.from_json(text, str(path))

    def save(self, path: Path) -> None:
        write_text(path, self.to_json() + "\n")

    # ---- meaning within a space ---------------------------------------------------------------------
    def validate(self, preset: SpacePreset) -> None:
        where = f"architecture for {self.space}/{self.preset}"
        if (self.space, self.preset) != (preset.space, preset.preset):
            raise HwnasError(f"{where} does not belong to {preset.space}/{preset.preset}")
        for view, choices in preset.resolutions.items():
            if self.resolutions.get(view) not in choices:
                raise HwnasError(f"{where}: view {view!r} resolution must be one of {choices}")
        if {(b.view, b.branch) for b in self.branches} != set(preset.branches) or len(self.branches) != len(
            preset.branches
        ):
            raise HwnasError(f"{where}: branches must be exactly {preset.branches}")
        templates = {t.name: t for t in preset.ops}
        names = set(templates)
        for b in self.branches:
            if len(b.layers) != len(preset.layers):
                raise HwnasError(f"{where}: branch {b.view}/{b.branch} needs {len(preset.layers)} layers")
            for i, (choice, decl) in enumerate(zip(b.layers, preset.layers, strict=True)):
                if choice.op not in names or not templates[choice.op].fits(decl.stride):
                    raise HwnasError(f"{where}: {b.view}/{b.branch} layer {i} op {choice.op!r} is not a candidate")
                if choice.width not in decl.widths:
                    raise HwnasError(f"{where}: {b.view}/{b.branch} layer {i} width must be one of {decl.widths}")

    def branch_specs(self, preset: SpacePreset, branch: BranchChoice) -> list[OpSpec]:
        """Stem, chosen layers, pool and head of one branch, in execution order."""
        size = self.resolutions[branch.view]
        specs = [preset.stem_op(size)]
        (h, w), cin = strided(preset.input_hw(size), preset.stem.stride), preset.stem.width
        templates = {t.name: t for t in preset.ops}
        for choice, decl in zip(branch.layers, preset.layers, strict=True):
            specs.append(templates[choice.op].instantiate(cin, choice.width, decl.stride, w, h))
            (h, w), cin = strided((h, w), decl.stride), choice.width
        return specs + preset.head(branch.branch, cin, (h, w))

    def op_specs(self, preset: SpacePreset) -> list[OpSpec]:
        self.validate(preset)
        return [s for b in self.branches for s in self.branch_specs(preset, b)] + preset.merge_ops()

    def flops(self, preset: SpacePreset) -> int:
        return sum(s.flops for s in self.op_specs(preset))

    @classmethod
    def sample(cls, preset: SpacePreset, rng: random.Random) -> Architecture:
        """A uniformly random architecture of the space (the random-search baseline draws these)."""
        branches = []
        for view, branch in preset.branches:
            layers = []
            for decl in preset.layers:
                ops = [t.name for t in preset.ops if t.fits(decl.stride)]
                layers.append(LayerChoice(rng.choice(ops), rng.choice(decl.widths)))
            branches.append(BranchChoice(view, branch, tuple(layers)))
        resolutions = {view: rng.choice(choices) for view, choices in preset.resolutions.items()}
        return cls(preset.space, preset.preset, resolutions, tuple(branches))
