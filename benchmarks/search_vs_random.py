"""Does the search beat random search at equal budget? Several seeds, the same target and tolerance.

For each seed, a differentiable search and a random search (the same step budget: random search spends it
training its candidates) at one target; each result is trained from scratch for the same number of steps and
scored by its task on held-out data (digits: test accuracy; avatar: test render MSE and the extreme subset,
unweighted by Eq. 3); latency is measured end to end. Prints mean ± std per method. Every finished row is
kept in a results file under benchmarks/results/ (tracked by git, so a run spans sessions: commit it) and
searches and trainings checkpoint under --out, so a killed run goes on where it stopped.

    python benchmarks/search_vs_random.py --space digits --preset small --speedup 2
    python benchmarks/search_vs_random.py --space avatar --preset small --speedup 2 --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from hwnas.search.target import LatencyTarget
from hwnas.workflows.runs import evaluate_run, train_run
from hwnas.workflows.searches import SearchRequest, run_search

METHODS = ("differentiable", "random")


def score(metrics: dict) -> dict[str, float]:
    """The task's held-out figures, whichever task it is."""
    if "test_accuracy" in metrics:
        return {"test accuracy": metrics["test_accuracy"]}
    return {"test MSE": metrics["test"]["mean"], "extreme MSE": metrics["extreme"]["mean"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="digits")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--device", default="cpu")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--target-ms", type=float)
    target.add_argument("--speedup", type=float)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--search-steps", type=int, default=None, help="default: the task's")
    parser.add_argument("--train-steps", type=int, default=None, help="default: the task's")
    parser.add_argument("--workdir", type=Path, default=Path(".hwnas"))
    parser.add_argument("--lut-dir", type=Path, default=Path("lut"))
    parser.add_argument("--out", type=Path, default=None, help="checkpoints; default benchmarks/out/<name>")
    parser.add_argument("--results", type=Path, default=None, help="default benchmarks/results/<name>.json")
    args = parser.parse_args()

    what = f"{args.speedup:g}x" if args.speedup else f"{args.target_ms:g}ms"
    steps = f"-s{args.search_steps or 'default'}-t{args.train_steps or 'default'}"
    name = f"vs-random-{args.space}-{args.preset}-{args.device}-{what}{steps}"
    out = args.out or Path("benchmarks/out") / name
    out.mkdir(parents=True, exist_ok=True)
    results_path = args.results or Path("benchmarks/results") / f"{name}.json"
    results_path.parent.mkdir(parents=True, exist_ok=True)
    rows: dict[str, dict] = json.loads(results_path.read_text()) if results_path.exists() else {}
    for seed in (int(s) for s in args.seeds.split(",")):
        for method in METHODS:
            key = f"{method}-seed{seed}"
            if key in rows:
                continue
            print(f"{key}: search, train, evaluate", flush=True)
            outcome = run_search(
                SearchRequest(args.space, args.device, LatencyTarget(args.target_ms, args.speedup), args.preset, method,
                              args.search_steps, seed, out_dir=out / "search" / key, lut_dir=args.lut_dir,
                              workdir=args.workdir, progress=False)
            )  # fmt: skip
            run_dir, trained = train_run(str(outcome.arch_path.resolve()), args.preset, args.train_steps, seed=seed,
                                         run_dir=out / "train" / key, progress=False)  # fmt: skip
            r = outcome.report
            rows[key] = {
                **score(evaluate_run(run_dir)[0]),
                "measured_ms": r["measured"]["measured_ms"],
                "predicted_ms": r["predicted_ms"],
                "target_ms": r["target_ms"],
                "search_wall_s": r["wall_s"],
                "train_wall_s": trained["wall_s"],
            }
            results_path.write_text(json.dumps(rows, indent=2))
            print(f"  {key}: {json.dumps({k: round(v, 4) for k, v in rows[key].items()})}", flush=True)
    report(rows, f"{args.space}/{args.preset} on {args.device}, target {what}")


def report(rows: dict[str, dict], title: str) -> None:
    print(f"\n{title}: mean ± std over seeds")
    figures = [k for k in next(iter(rows.values())) if k not in ("target_ms",)]
    print(f"{'method':15s} {'n':>2s} " + " ".join(f"{f:>18s}" for f in figures))
    for method in METHODS:
        mine = [r for k, r in rows.items() if k.startswith(method)]
        if not mine:
            continue
        cells = []
        for f in figures:
            values = [r[f] for r in mine]
            std = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(f"{statistics.mean(values):10.4g} ± {std:<6.2g}")
        print(f"{method:15s} {len(mine):2d} " + " ".join(cells))
    offs = [r["measured_ms"] / r["target_ms"] - 1 for r in rows.values()]
    print(f"measured latency vs target: {min(offs):+.1%} .. {max(offs):+.1%}")


if __name__ == "__main__":
    main()
