"""Search spaces declared in TOML: views -> branches -> (stem, searchable layers, pool + linear head).

One TOML file declares a space and its presets (``tiny`` / ``small`` / ``paper``); ``SpacePreset`` is the
value object the profiler and the searcher consume.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hwnas.core.errors import HwnasError, OpKeyError
from hwnas.core.userfiles import parse_toml, read_text
from hwnas.ops import OpSpec, OpTemplate, conv_out


def strided(hw: tuple[int, int], stride: int) -> tuple[int, int]:
    """(height, width) after a 'same'-padded op of ``stride`` (a height of 1 stays 1)."""
    return conv_out(hw[0], stride), conv_out(hw[1], stride)


def definitions_dir() -> Path:
    """Installed wheels carry the TOML files as ``hwnas/space/definitions``; a source checkout
    (or an editable install) reads the top-level ``searchspaces/`` folder they come from."""
    packaged = Path(__file__).parent / "definitions"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "searchspaces"


@dataclass(frozen=True)
class LayerDecl:
    stride: int
    widths: tuple[int, ...]


@dataclass(frozen=True)
class Stem:
    width: int
    kernel: int = 3
    stride: int = 2
    op: str = "conv"  # an op type with kernel, stride, cin, cout and a spatial size (a plugin's 1-D convolution)


@dataclass(frozen=True)
class LayerCandidates:
    """Everything one searchable layer of one branch may become at one input resolution."""

    index: int
    stride: int
    in_widths: tuple[int, ...]
    out_widths: tuple[int, ...]
    ops: tuple[OpTemplate, ...]
    size: int  # input width
    height: int | None = None  # input height; None: the width (square)

    def instantiate(self, template: OpTemplate, cin: int, cout: int) -> OpSpec:
        return template.instantiate(cin, cout, self.stride, self.size, self.height)

    def specs(self) -> Iterator[OpSpec]:
        for template in self.ops:
            for cin in self.in_widths:
                for cout in self.out_widths:
                    yield self.instantiate(template, cin, cout)


@dataclass(frozen=True)
class SpacePreset:
    space: str
    preset: str
    description: str
    input_channels: int
    views: dict[str, tuple[str, ...]]
    outputs: dict[str, int]
    resolutions: dict[str, tuple[int, ...]]
    stem: Stem
    ops: tuple[OpTemplate, ...]
    layers: tuple[LayerDecl, ...]
    task: str  # the training task a search of this space optimises (a name in the ``hwnas.tasks`` registry)
    regressor: str | None = None  # branch whose outputs of all views are concatenated and regressed
    latent_dim: int = 0  # output size of that regression
    reference: str | None = None  # what --speedup divides: a baseline of the task, or "largest" (the slowest network)
    input_height: int | None = None  # every view's input height (1: a signal); None: square, the resolution

    @property
    def branches(self) -> list[tuple[str, str]]:
        return [(view, branch) for view, names in self.views.items() for branch in names]

    def input_hw(self, size: int) -> tuple[int, int]:
        """(height, width) of a view's input at resolution ``size``."""
        return (self.input_height or size, size)

    def stem_op(self, size: int) -> OpSpec:
        s, (h, w) = self.stem, self.input_hw(size)
        return OpSpec(s.op, self.input_channels, s.width, kernel=s.kernel, stride=s.stride, h=h, w=w)

    def layer_candidates(self, size: int) -> list[LayerCandidates]:
        """The searchable layers of one branch whose view has input resolution ``size``."""
        h, w = strided(self.input_hw(size), self.stem.stride)
        in_widths = (self.stem.width,)
        out = []
        for i, layer in enumerate(self.layers):
            ops = tuple(t for t in self.ops if t.fits(layer.stride))
            out.append(LayerCandidates(i, layer.stride, in_widths, layer.widths, ops, w, h))
            (h, w), in_widths = strided((h, w), layer.stride), layer.widths
        return out

    def final_hw(self, size: int) -> tuple[int, int]:
        """(height, width) after the last layer of a branch whose view has input resolution ``size``."""
        hw = self.input_hw(size)
        for stride in (self.stem.stride, *(layer.stride for layer in self.layers)):
            hw = strided(hw, stride)
        return hw

    def final_size(self, size: int) -> int:
        """Deprecated for ``final_hw``: the width after the last layer (a square's side)."""
        warnings.warn("SpacePreset.final_size is deprecated; use final_hw", DeprecationWarning, stacklevel=2)
        return self.final_hw(size)[1]

    def head(self, branch: str, width: int, final_hw: tuple[int, int] | int) -> list[OpSpec]:
        """Global average pool and linear head of a branch whose last layer is ``width`` wide, its output
        ``final_hw`` (height, width; an int: a square's side)."""
        h, w = (final_hw, final_hw) if isinstance(final_hw, int) else final_hw
        return [OpSpec("gap", width, h=h, w=w), OpSpec("linear", width, self.outputs[branch])]

    def head_ops(self, branch: str, size: int) -> list[OpSpec]:
        """The head for every width the last layer may have."""
        final = self.final_hw(size)
        return [op for width in self.layers[-1].widths for op in self.head(branch, width, final)]

    def regressor_op(self) -> OpSpec | None:
        if self.regressor is None:
            return None
        n = sum(1 for _, branch in self.branches if branch == self.regressor)
        return OpSpec("linear", n * self.outputs[self.regressor], self.latent_dim)

    def merge_ops(self) -> list[OpSpec]:
        """Ops after the branches (the regressor, when declared)."""
        reg = self.regressor_op()
        return [reg] if reg is not None else []

    def enumerate_ops(self) -> list[OpSpec]:
        """Every unique OpSpec a search of this space can ask the latency table for, sorted by key."""
        ops: set[OpSpec] = set(self.merge_ops())
        for view, branch in self.branches:
            for size in self.resolutions[view]:
                ops.add(self.stem_op(size))
                for layer in self.layer_candidates(size):
                    ops.update(layer.specs())
                ops.update(self.head_ops(branch, size))
        return sorted(ops, key=lambda s: s.key)


@dataclass(frozen=True)
class DeclaredSpace:
    """A search space read from one TOML file; ``preset(name)`` gives its value object."""

    name: str
    description: str
    source: str
    data: dict[str, Any]

    @classmethod
    def from_file(cls, path: Path) -> DeclaredSpace:
        text = read_text(path, "search-space file", "pass a space declaration (see searchspaces/mobile.toml)")
        data = parse_toml(text, f"search-space file {path}", "fix the syntax")
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise HwnasError(f'search-space file {path} has no name; add name = "<space>" at the top')
        if not isinstance(data.get("presets"), dict) or not data["presets"]:
            raise HwnasError(f"search-space file {path} declares no presets; add a [presets.<name>] table")
        return cls(name, str(data.get("description", "")), str(path), data)

    @property
    def presets(self) -> list[str]:
        return list(self.data["presets"])

    def preset(self, preset: str) -> SpacePreset:
        if preset not in self.data["presets"]:
            raise HwnasError(f"unknown preset {preset!r} for space {self.name!r}; known: {', '.join(self.presets)}")
        try:
            return _build_preset(self, preset)
        except (KeyError, TypeError, ValueError, OpKeyError) as exc:
            detail = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
            raise HwnasError(
                f"search space {self.name!r} preset {preset!r} ({self.source}) is malformed: {detail}"
            ) from None


def _build_preset(space: DeclaredSpace, preset: str) -> SpacePreset:
    data, p = space.data, space.data["presets"][preset]
    views = {view: tuple(branches) for view, branches in data["views"].items()}
    outputs = {k: int(v) for k, v in p["outputs"].items()}
    for view, branches in views.items():
        for branch in branches:
            if branch not in outputs:
                raise ValueError(f"branch {branch!r} of view {view!r} has no output size in outputs")
    resolutions = {view: tuple(int(r) for r in p["resolutions"][view]) for view in views}
    layers = tuple(LayerDecl(int(layer["stride"]), tuple(int(w) for w in layer["widths"])) for layer in p["layers"])
    if not layers or any(not layer.widths or min(layer.widths) < 1 for layer in layers):
        raise ValueError("every preset needs at least one layer, each with positive widths")
    if any(min(r) < 1 for r in resolutions.values() if r) or not all(resolutions.values()):
        raise ValueError("every view needs at least one positive resolution")
    regressor = data.get("regressor")
    if regressor is not None and regressor not in outputs:
        raise ValueError(f"regressor branch {regressor!r} is not among the outputs")
    if regressor is not None and int(p.get("latent_dim", 0)) < 1:
        raise ValueError("a space with a regressor needs a positive latent_dim in every preset")
    height = data.get("input_height")
    if height is not None and (not isinstance(height, int) or height < 1):
        raise ValueError(f"input_height must be a positive integer (1 for signals), not {height!r}")
    built = SpacePreset(
        space=space.name,
        preset=preset,
        description=space.description,
        input_channels=int(data.get("input_channels", 1)),
        views=views,
        outputs=outputs,
        resolutions=resolutions,
        stem=Stem(**{k: (str(v) if k == "op" else int(v)) for k, v in p["stem"].items()}),
        ops=tuple(OpTemplate.parse(t) for t in p["ops"]),
        layers=layers,
        task=str(data.get("task", space.name)),
        regressor=None if regressor is None else str(regressor),
        latent_dim=int(p.get("latent_dim", 0)),
        reference=None if data.get("reference") is None else str(data["reference"]),
        input_height=height,
    )
    built.stem_op(min(min(r) for r in resolutions.values()))  # an unknown or unfit stem op type is malformed
    return built


def digits() -> DeclaredSpace:
    """Entry point of the built-in ``digits`` classifier space."""
    return DeclaredSpace.from_file(definitions_dir() / "digits.toml")


def mobile() -> DeclaredSpace:
    """Entry point of the built-in ``mobile`` space: MBConv blocks, ProxylessNAS / FBNet style."""
    return DeclaredSpace.from_file(definitions_dir() / "mobile.toml")
