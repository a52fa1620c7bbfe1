"""From the searched distribution to one architecture that meets the latency target.

The argmax of every choice can miss the target that the expected latency met (the expectation mixes
choices the argmax drops). ``fit_to_target`` repairs that: one layer choice at a time, it makes the change
that costs the least log-probability per millisecond of progress towards the target, until the table's
prediction is within the tolerance.
"""

from __future__ import annotations

from dataclasses import replace

import torch.nn.functional as F

from hwnas.lut.table import LatencyTable
from hwnas.search.supernet import Supernet
from hwnas.space.architecture import Architecture, LayerChoice


def fit_to_target(
    net: Supernet,
    table: LatencyTable,
    target_ms: float,
    tolerance: float = 0.03,
    max_changes: int = 100,
) -> Architecture:
    preset = net.preset
    arch = net.derive()
    logp = {}  # (branch index, layer index) -> ({op: log p}, {width: log p})
    for bi, branch in enumerate(net.branches):
        for li, layer in enumerate(branch.layers):
            ops = dict(zip(layer.ops_names, F.log_softmax(layer.alpha_op.detach(), 0).tolist(), strict=True))
            widths = dict(zip(layer.widths, F.log_softmax(layer.alpha_width.detach(), 0).tolist(), strict=True))
            logp[(bi, li)] = (ops, widths)
    current = table.predict_ms(arch.op_specs(preset))

    def branch_sum(a: Architecture, bi: int) -> float:
        return float(table.costs_ms(a.branch_specs(preset, a.branches[bi])).sum())

    sums = [branch_sum(arch, bi) for bi in range(len(arch.branches))]
    for _ in range(max_changes):
        if abs(current / target_ms - 1) <= tolerance:
            break
        best = None
        for (bi, li), (ops, widths) in logp.items():
            choice = arch.branches[bi].layers[li]
            moves = [LayerChoice(o, choice.width) for o in ops if o != choice.op]
            moves += [LayerChoice(choice.op, w) for w in widths if w != choice.width]
            for move in moves:
                candidate = _with_layer(arch, bi, li, move)
                new_sum = branch_sum(candidate, bi)
                predicted = current - sums[bi] + new_sum
                progress = abs(current - target_ms) - abs(predicted - target_ms)
                if progress <= 0:
                    continue
                cost = ops[choice.op] + widths[choice.width] - ops[move.op] - widths[move.width]
                score = cost / progress
                if best is None or score < best[0]:
                    best = (score, candidate, predicted, bi, new_sum)
        if best is None:
            break
        _, arch, current, bi, sums[bi] = best
    return arch


def _with_layer(arch: Architecture, branch: int, layer: int, choice: LayerChoice) -> Architecture:
    b = arch.branches[branch]
    layers = (*b.layers[:layer], choice, *b.layers[layer + 1 :])
    branches = (*arch.branches[:branch], replace(b, layers=layers), *arch.branches[branch + 1 :])
    return replace(arch, branches=branches)
