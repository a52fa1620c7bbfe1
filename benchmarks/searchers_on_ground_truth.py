"""Does the searcher beat random search on a benchmark where the answer is known (issue 39)? Differentiable and
random search at equal budget, at latency targets inside a ground truth's range (quantiles of its sample),
several seeds each; every result trained stand-alone as the ground truth's architectures were; prints per
target each method's regret against the best known architecture within the target (mean ± std over seeds),
how far its measured latency lands from the target, and the paired difference with its sign-flip p; with
--rank, how each differentiable search's supernet orders the ground truth's architectures (Kendall's tau).
Resumable: one result file per (target, method, seed) under <truth>/comparison.

    python benchmarks/ground_truth.py --space mnist1d --preset small        # the ground truth first
    python benchmarks/searchers_on_ground_truth.py --truth benchmarks/results/ground-truth-mnist1d-small
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hwnas.workflows.searches import parse_setting
from hwnas.workflows.searchquality import ComparisonRequest, compare_searchers, rank_searches, ranking_summary, summary


def numbers(text: str, kind: type = float) -> tuple:
    return tuple(kind(x) for x in text.split(","))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--truth", type=Path, required=True, help="a ground-truth folder")
    parser.add_argument("--quantiles", type=numbers, default=(0.25, 0.5, 0.75), help="targets, e.g. 0.25,0.5,0.75")
    parser.add_argument("--seeds", type=lambda t: numbers(t, int), default=(0, 1, 2, 3, 4))
    parser.add_argument("--steps", type=int, default=None, help="of every search (default: the task's)")
    parser.add_argument("--setting", action="append", default=[], metavar="KEY=VALUE", help="SearchConfig field")
    parser.add_argument("--methods", type=lambda t: tuple(t.split(",")), default=("differentiable", "random"))
    parser.add_argument("--out", type=Path, default=None, help="default: <truth>/comparison")
    parser.add_argument("--borrow", type=Path, default=None,
                        help="a comparison folder whose rows stand in for the methods not run here (a variant of the "
                             "differentiable search against the random search already run)")  # fmt: skip
    parser.add_argument("--rank", action="store_true",
                        help="also how each differentiable search's supernet ranks the ground truth (Kendall's tau; "
                             "about a minute a supernet, kept under <out>/rankings)")  # fmt: skip
    parser.add_argument("--workdir", type=Path, default=Path(".hwnas"))
    parser.add_argument("--lut-dir", type=Path, default=Path("lut"))
    args = parser.parse_args()
    request = ComparisonRequest(
        args.truth, args.quantiles, args.seeds, args.methods, args.steps, dict(map(parse_setting, args.setting)),
        args.out, args.borrow, args.workdir, args.lut_dir,
    )  # fmt: skip
    for line in summary(compare_searchers(request)):
        print(line)
    if args.rank:
        for line in ranking_summary(rank_searches(request)):
            print(line)


if __name__ == "__main__":
    main()
