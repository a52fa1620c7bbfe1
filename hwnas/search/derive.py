"""From the searched distribution to one architecture that meets the latency target.

The argmax of every choice can miss the target that the expected latency met (the expectation mixes
choices the argmax drops). ``fit_to_target`` repairs that: one choice at a time — a layer's op or width, or a
view's resolution — it makes the change that costs the least log-probability per millisecond of progress
towards the target, until the table's prediction is within the tolerance.
"""

from __future__ import annotations

import random
from dataclasses import replace

import torch.nn.functional as F

from hwnas.lut.table import LatencyTable
from hwnas.search.supernet import Supernet
from hwnas.search.target import TOLERANCE
from hwnas.space.architecture import Architecture, LayerChoice
from hwnas.space.declared import SpacePreset

Preferences = tuple[dict[tuple[int, int], tuple[dict[str, float], dict[int, float]]], dict[str, dict[int, float]]]


def fit_to_target(
    net: Supernet,
    table: LatencyTable,
    target_ms: float,
    tolerance: float = TOLERANCE,
    max_changes: int = 100,
) -> Architecture:
    """The supernet's argmax architecture, moved onto the target at the least cost in log-probability."""
    return fit_architecture(net.derive(), net.preset, table, target_ms, preferences(net), tolerance, max_changes)


def proposals_per_resolution(
    net: Supernet, table: LatencyTable, target_ms: float, tolerance: float = TOLERANCE
) -> list[Architecture]:
    """``fit_to_target``'s architecture, and for each view each of its other resolutions: the argmax with that
    one resolution changed, fitted onto the target with the resolution held. A caller picks among them by the
    task (the policy's own choice of resolution is the search's weakest: REINFORCE on one noisy loss a step)."""
    logp, res_logp = preferences(net)
    argmax = net.derive()
    found = {}
    for arch in [fit_to_target(net, table, target_ms, tolerance)] + [
        fit_architecture(replace(argmax, resolutions={**argmax.resolutions, view: size}), net.preset, table, target_ms,
                         (logp, {**res_logp, view: {size: 0.0}}), tolerance)  # the view held at this size
        for view, sizes in res_logp.items()
        for size in sizes
    ]:  # fmt: skip
        found.setdefault(arch.to_json(), arch)
    return list(found.values())


def preferences(net: Supernet) -> Preferences:
    """The supernet's log-probability of every choice."""
    logp = {}  # (branch index, layer index) -> ({op: log p}, {width: log p})
    for bi, branch in enumerate(net.branches):
        for li, layer in enumerate(branch.layers):
            ops = dict(zip(layer.ops_names, F.log_softmax(layer.alpha_op.detach(), 0).tolist(), strict=True))
            widths = dict(zip(layer.widths, F.log_softmax(layer.alpha_width.detach(), 0).tolist(), strict=True))
            logp[(bi, li)] = (ops, widths)
    res_logp = {
        v: dict(zip(net.preset.resolutions[v], F.log_softmax(p.theta.detach(), 0).tolist(), strict=True))
        for v, p in net.policies.items()
    }
    return logp, res_logp


def random_preferences(preset: SpacePreset, rng: random.Random) -> Preferences:
    """Random scores for every choice: ``fit_architecture`` with them walks a random path onto the target
    (how random search reaches targets that uniform sampling almost never draws)."""
    logp = {}
    for bi in range(len(preset.branches)):
        for li, decl in enumerate(preset.layers):
            ops = {t.name: rng.random() for t in preset.ops if t.fits(decl.stride)}
            logp[(bi, li)] = (ops, {w: rng.random() for w in decl.widths})
    return logp, {v: {r: rng.random() for r in sizes} for v, sizes in preset.resolutions.items()}


def fit_architecture(
    arch: Architecture,
    preset: SpacePreset,
    table: LatencyTable,
    target_ms: float,
    preferences: Preferences,
    tolerance: float = TOLERANCE,
    max_changes: int = 100,
) -> Architecture:
    """One change at a time, the one that gives up the least preference per ms of progress."""
    logp, res_logp = preferences

    def branch_sum(a: Architecture, bi: int) -> float:
        return float(table.costs_ms(a.branch_specs(preset, a.branches[bi])).sum())

    current = table.predict_ms(arch.op_specs(preset))
    sums = [branch_sum(arch, bi) for bi in range(len(arch.branches))]
    for _ in range(max_changes):
        if abs(current / target_ms - 1) <= tolerance:
            break
        moves = []  # (log-probability given up, candidate, its predicted latency)
        for (bi, li), (ops, widths) in logp.items():
            choice = arch.branches[bi].layers[li]
            layer_moves = [LayerChoice(o, choice.width) for o in ops if o != choice.op]
            layer_moves += [LayerChoice(choice.op, w) for w in widths if w != choice.width]
            for move in layer_moves:
                candidate = _with_layer(arch, bi, li, move)
                cost = ops[choice.op] + widths[choice.width] - ops[move.op] - widths[move.width]
                moves.append((cost, candidate, current - sums[bi] + branch_sum(candidate, bi)))
        for view, options in res_logp.items():  # the resolution: the largest latency lever
            for size, lp in options.items():
                if size != arch.resolutions[view]:
                    candidate = replace(arch, resolutions={**arch.resolutions, view: size})
                    moves.append(
                        (options[arch.resolutions[view]] - lp, candidate, table.predict_ms(candidate.op_specs(preset)))
                    )
        best = None
        for cost, candidate, predicted in moves:
            progress = abs(current - target_ms) - abs(predicted - target_ms)
            if progress > 0 and (best is None or cost / progress < best[0]):
                best = (cost / progress, candidate, predicted)
        if best is None:
            break
        _, arch, current = best
        sums = [branch_sum(arch, bi) for bi in range(len(arch.branches))]
    return arch


def _with_layer(arch: Architecture, branch: int, layer: int, choice: LayerChoice) -> Architecture:
    b = arch.branches[branch]
    layers = (*b.layers[:layer], choice, *b.layers[layer + 1 :])
    branches = (*arch.branches[:branch], replace(b, layers=layers), *arch.branches[branch + 1 :])
    return replace(arch, branches=branches)
