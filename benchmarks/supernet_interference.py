"""Which sampled choice slows the supernet's shared weights? Train the supernet along one architecture's path,
with one kind of choice drawn uniformly at every step, and score that architecture's sub-network.

With nothing drawn the supernet is the child network trained alone; each drawn dimension (ops, widths,
resolution, or all three: a one-shot supernet's weight steps) shows what sharing that choice costs the
architecture at equal steps. ``--steps`` also trains the fixed path for a quarter of the steps, as many updates
as each of 4-5 sampled ops gets.

    python benchmarks/supernet_interference.py --key AVE-L/seed0 \\
        --archs-from benchmarks/results/pareto-avatar-small-cpu-sdefault-tdefault.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from hwnas.search.loop import _batch, split_pool
from hwnas.search.supernet import Sampling, Supernet
from hwnas.space import get_preset
from hwnas.space.architecture import Architecture
from hwnas.train.trainer import TrainConfig, Trainer
from hwnas.workflows.searches import held_out_score, search_task

DRAWN = ("none", "ops", "widths", "resolution", "all")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs-from", type=Path, required=True, help="a Pareto results file")
    parser.add_argument("--key", default="AVE-L/seed0", help="the row whose architecture is trained")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    row = json.loads(args.archs_from.read_text())[args.key]
    space = get_preset("avatar", args.preset)
    arch = Architecture.from_json(row["architecture"])
    task = search_task(space, int(args.key.rsplit("seed", 1)[1]))
    print(f"{args.key} on avatar/{args.preset}: held-out search loss of its sub-network (lower is better); "
          f"trained alone for 1200 steps: {row.get('stand_alone_score', float('nan')):.4f}")  # fmt: skip
    for drawn, steps in [("none", args.steps // 4), *((d, args.steps) for d in DRAWN)]:
        print(f"  {drawn:>10s} drawn, {steps:4d} steps: {score_after(space, task, arch, drawn, steps):.4f}", flush=True)


def score_after(space, task, arch: Architecture, drawn: str, steps: int) -> float:
    torch.manual_seed(0)
    net = Supernet(space)
    trainer = Trainer(net, task, TrainConfig(steps, task.batch_size, schedule="constant"),
                      params=net.weight_parameters())  # fmt: skip
    split, _, g = split_pool(task, 0)
    net.sampling = Sampling(1.0, "hard", hard_width=True)
    for step in range(steps):
        net.select(arch)
        with torch.no_grad():
            for layer in (layer for b in net.branches for layer in b.layers):
                if drawn in ("ops", "all"):
                    layer.alpha_op.zero_()
                if drawn in ("widths", "all"):
                    layer.alpha_width.zero_()
        if drawn in ("resolution", "all"):
            for policy in net.policies.values():
                policy.sample_uniform()
        trainer.step(_batch(task, split, task.batch_size, g, "cpu"), step)
    return held_out_score(net.train(), task, arch)


if __name__ == "__main__":
    main()
