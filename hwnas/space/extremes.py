"""The cheapest and the dearest architecture of a space under any additive cost of its ops, found exactly.

A branch's cost is its stem, each layer's cost given its input and output width, and its head given the last
width: a chain, so dynamic programming over the width of each layer finds the cheapest (or dearest) choices
per branch and resolution; the views' resolutions then add independently. The cost is a latency table's op
costs (the search's fastest and slowest architecture) or the ops' FLOPs (before any table exists).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from hwnas.ops import OpSpec
from hwnas.space.architecture import Architecture, BranchChoice, LayerChoice
from hwnas.space.declared import SpacePreset

OpCosts = Callable[[Sequence[OpSpec]], np.ndarray]


def flops(specs: Sequence[OpSpec]) -> np.ndarray:
    return np.array([s.flops for s in specs], dtype=float)


def extreme_architecture(preset: SpacePreset, costs: OpCosts = flops, dearest: bool = False) -> Architecture:
    """The architecture of least (or greatest) summed ``costs``."""
    better: Callable[[float, float], bool] = (lambda a, b: a > b) if dearest else (lambda a, b: a < b)
    resolutions, branches = {}, {}
    for view, names in preset.views.items():
        best = None
        for size in preset.resolutions[view]:
            chains = [_branch_chain(preset, costs, branch, size, better) for branch in names]
            cost = sum(c for c, _ in chains)
            if best is None or better(cost, best[0]):
                best = (cost, size, [layers for _, layers in chains])
        assert best is not None
        resolutions[view] = best[1]
        for branch, layers in zip(names, best[2], strict=True):
            branches[(view, branch)] = BranchChoice(view, branch, tuple(layers))
    return Architecture(preset.space, preset.preset, resolutions, tuple(branches[b] for b in preset.branches))


def _branch_chain(preset, costs: OpCosts, branch, size, better) -> tuple[float, list[LayerChoice]]:
    """The best cost of one branch at one input resolution, and its layer choices."""
    candidates = preset.layer_candidates(size)
    final = preset.final_hw(size)
    # state: width after the layer -> (cost so far, choices so far)
    states = {preset.stem.width: (float(costs([preset.stem_op(size)])[0]), [])}
    for layer in candidates:
        nxt: dict[int, tuple[float, list[LayerChoice]]] = {}
        for cin, (cost, choices) in states.items():
            for template in layer.ops:
                outs = costs([layer.instantiate(template, cin, c) for c in layer.out_widths])
                for cout, c in zip(layer.out_widths, outs, strict=True):
                    total = cost + float(c)
                    if cout not in nxt or better(total, nxt[cout][0]):
                        nxt[cout] = (total, [*choices, LayerChoice(template.name, cout)])
        states = nxt
    ends = [(cost + float(costs(preset.head(branch, w, final)).sum()), ch) for w, (cost, ch) in states.items()]
    best = ends[0]
    for end in ends[1:]:
        if better(end[0], best[0]):
            best = end
    return best
