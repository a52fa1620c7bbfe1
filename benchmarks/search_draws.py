"""How much of a Pareto row is its search's own draw? One search, redrawn on the same data, scored each time.

A Pareto row is one search per data seed: one draw of random search's candidates, or of the differentiable
search's paths and initial weights. Here the search of one label (``random-L``, ``AVE-L``, ...) runs again on
each seed's data with other search seeds (``seed`` setting 1000, 1001, ...), each result is trained from scratch
(the preset's steps, the row's data and initial weights) and scored, and the Pareto file's rows of that label
and of its rival (AVE <-> random) are placed among the draws. The target is the row's share of EEM, with EEM
measured again on this machine, so the draws are sized for it. Every draw is kept in benchmarks/results/ as it
finishes; searches and trainings checkpoint under --out, so a killed run goes on where it stopped.

    python benchmarks/search_draws.py --label random-L --draws 4 \\
        --archs-from benchmarks/results/pareto-avatar-small-cpu-sdefault-tdefault.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import statistics
from pathlib import Path

from search_pareto import Results  # the sibling benchmark's locked results file

from hwnas.apps.avatar.task import AvatarTask
from hwnas.deploy.endtoend import measure_encoder
from hwnas.search.target import LatencyTarget
from hwnas.workflows.runs import evaluate_run, load_trained, train_run
from hwnas.workflows.searches import SearchRequest, parse_setting, run_search, settings_tag
from hwnas.workflows.tables import open_device

FIRST_DRAW = 1000  # the search seed of a seed's first draw; the Pareto row itself is search seed = data seed
RESAMPLES = 10000  # how often the report redraws one result per seed for the bar's lottery


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs-from", type=Path, required=True, help="a Pareto results file")
    parser.add_argument("--rivals-from", type=Path, default=None,
                        help="the rival rows (AVE <-> random) from this Pareto file; default --archs-from")  # fmt: skip
    parser.add_argument("--label", required=True, help="the rows to redraw: random-L, AVE-M, ...")
    parser.add_argument("--seeds", default="0,1,2", help="data seeds")
    parser.add_argument("--draws", type=int, default=4, help="searches per seed")
    parser.add_argument("--setting", action="append", default=[], help="a search setting KEY=VALUE (repeatable)")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=None, help="checkpoints; default benchmarks/out/<name>")
    parser.add_argument("--results", type=Path, default=None, help="default benchmarks/results/<name>.json")
    parser.add_argument("--report-only", action="store_true", help="print the report of the draws so far")
    args = parser.parse_args()
    for path in (args.archs_from, args.rivals_from):
        if path is not None and not path.is_file():
            parser.error(f"{path}: no such results file; give one that benchmarks/results/ holds")
    if not args.label.startswith(("AVE-", "random-")):
        parser.error(f"--label {args.label}: redraw an AVE-<target> or random-<target> row")
    pareto = json.loads(args.archs_from.read_text())
    rows = {k: r for k, r in pareto.items() if k.startswith(f"{args.label}/")}
    if not rows:
        parser.error(f"--label {args.label}: {args.archs_from} has no such rows")
    rivals = json.loads(args.rivals_from.read_text()) if args.rivals_from else pareto
    settings = dict(parse_setting(s) for s in args.setting)
    name = f"draws-{args.label}-{args.archs_from.stem}{settings_tag(settings)}"
    out = args.out or Path("benchmarks/out") / name
    seeds = [int(s) for s in args.seeds.split(",")]
    results = Results(args.results or Path("benchmarks/results") / f"{name}.json")  # shared by processes

    if not args.report_only:
        device, backend = open_device(args.device)

        def measure_reference() -> dict:
            net = AvatarTask.reference_network("eem", args.preset)
            return {"eem_ms": measure_encoder(net, device, backend, Path(".hwnas")).median_ms}

        eem_here = results.update("reference", measure_reference)["eem_ms"]
        eem_ms = (pareto.get("reference") or rivals["reference"])["eem_ms"]  # a variant's file shares its rivals'
        share = next(iter(rows.values()))["target_ms"] / eem_ms
        target_ms = share * eem_here

        def draw(seed: int, k: int) -> dict:
            """Search seed ``k`` on ``seed``'s data, its result trained once, scored and measured."""
            run = out / f"seed{seed}-draw{k}"
            outcome = run_search(
                SearchRequest(
                    "avatar",
                    args.device,
                    LatencyTarget(target_ms),
                    preset=args.preset,
                    method=method(args.label),
                    seed=seed,
                    settings={**settings, "seed": k},
                    out_dir=run / "search",
                    progress=False,
                )
            )
            train_run(str(outcome.arch_path.resolve()), args.preset, seed=seed, run_dir=run / "train", progress=False)
            metrics = evaluate_run(run / "train")[0]
            measured = measure_encoder(load_trained(run / "train")[2], device, backend, Path(".hwnas")).median_ms
            return {"test": metrics["test"]["mean"], "extreme": metrics["extreme"]["mean"], "measured_ms": measured,
                    "target_ms": target_ms, "architecture": outcome.architecture.to_json()}  # fmt: skip

        for seed, k in itertools.product(seeds, range(FIRST_DRAW, FIRST_DRAW + args.draws)):
            got = results.update(f"seed{seed}/draw{k}", lambda s=seed, k=k: draw(s, k))
            print(f"  seed{seed}/draw{k}: {got['measured_ms']:.3f} ms (target {target_ms:.3f}), "
                  f"test MSE {got['test']:.3f}", flush=True)  # fmt: skip
    report(results.read(), pareto, rivals, args.label, seeds)


def method(label: str) -> str:
    return "random" if label.startswith("random-") else "differentiable"


def rival(label: str) -> str:
    """The label a bar compares ``label`` with: random search's row for a searched one, and back."""
    kind, target = label.split("-", 1)
    return f"{'AVE' if kind == 'random' else 'random'}-{target}"


def report(draws: dict, pareto: dict, rivals: dict, label: str, seeds: list[int]) -> None:
    """Per seed the draws' test MSE beside the Pareto rows' first trainings (single trainings, like the draws);
    then how often the bar "AVE's mean over the seeds below random's" holds when the redrawn label's row is
    replaced by one of its draws per seed (the row itself among them)."""
    other = rival(label)
    print(f"{label} redrawn (single trainings; test MSE, 0-255 scale); the Pareto rows' first trainings beside it")
    per_seed = {}
    for seed in seeds:
        got = [d["test"] for k, d in draws.items() if k.startswith(f"seed{seed}/")]
        row, rival_row = pareto.get(f"{label}/seed{seed}"), rivals.get(f"{other}/seed{seed}")
        if not got or row is None or rival_row is None:
            continue
        per_seed[seed] = ([row["test"]["mean"], *got], rival_row["test"]["mean"])
        offs = [d["measured_ms"] / d["target_ms"] - 1 for k, d in draws.items() if k.startswith(f"seed{seed}/")]
        spread = statistics.stdev(got) if len(got) > 1 else 0.0
        print(f"  seed {seed}: {len(got)} draws {statistics.mean(got):.3f} ± {spread:.3f} "
              f"({', '.join(f'{x:.3f}' for x in got)}; {min(offs):+.0%}..{max(offs):+.0%} of target); "
              f"Pareto {label} {row['test']['mean']:.3f}, {other} {rival_row['test']['mean']:.3f}; "
              f"{other} below {sum(x > rival_row['test']['mean'] for x in got)} of {len(got)} draws")  # fmt: skip
    if len(per_seed) < 2:
        return
    rng = random.Random(0)
    ave_first = label.startswith("AVE")
    fixed = statistics.mean(r for _, r in per_seed.values())
    wins = 0
    for _ in range(RESAMPLES):
        drawn = statistics.mean(rng.choice(scores) for scores, _ in per_seed.values())
        wins += (drawn < fixed) if ave_first else (fixed < drawn)
    ave, rnd = (label, other) if ave_first else (other, label)
    print(
        f"  the bar at this target, {ave}'s mean below {rnd}'s over seeds {', '.join(map(str, per_seed))}: holds in "
        f"{wins / RESAMPLES:.0%} of {RESAMPLES} redraws of {label} (one result per seed; the row among them)"
    )


if __name__ == "__main__":
    main()
