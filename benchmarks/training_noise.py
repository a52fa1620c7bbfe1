"""How much of a row's score is training noise? The same architecture on the same data, trained again from other
initial weights and batch orders.

A Pareto comparison (benchmarks/search_pareto.py) trains each searched and random architecture once per seed,
and the seed sets the data as well as the training. Here the rows named by ``--keys`` (``AVE-S/seed0``, ...) are
trained again on their seed's data with ``--init-seeds`` (``hwnas train --init-seed``), as long as the row was
trained, and scored on the held-out sets. Printed per row: the test and extreme-subset render MSE as mean ± std
over the init seeds (beside the row's own score), and for two rows of one seed the difference between their
means against the noise of one training. Every score is kept in benchmarks/results/ (tracked by git), and each
training resumes from its checkpoint under --out, so a run spans sessions.

    python benchmarks/training_noise.py --keys AVE-S/seed0,random-S/seed0 \\
        --archs-from benchmarks/results/pareto-avatar-small-cpu-sdefault-tdefault.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
from pathlib import Path

from hwnas.workflows.runs import evaluate_run, train_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs-from", type=Path, required=True, help="a Pareto results file")
    parser.add_argument("--keys", required=True, help="comma-separated rows of it (label/seedN)")
    parser.add_argument("--init-seeds", default="100,101,102", help="comma-separated; other than the data seeds")
    parser.add_argument("--out", type=Path, default=None, help="checkpoints; default benchmarks/out/<name>")
    parser.add_argument("--results", type=Path, default=None, help="default benchmarks/results/<name>.json")
    args = parser.parse_args()

    source = json.loads(args.archs_from.read_text())
    keys = args.keys.split(",")
    if missing := [k for k in keys if k not in source]:
        parser.error(f"{args.archs_from} has no row {', '.join(missing)}; its rows: {', '.join(sorted(source))}")
    init_seeds = [int(s) for s in args.init_seeds.split(",")]
    name = f"training-noise-{args.archs_from.stem}"
    out = args.out or Path("benchmarks/out") / name
    results_path = args.results or Path("benchmarks/results") / f"{name}.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}

    for key in keys:
        row, seed = source[key], int(key.rsplit("seed", 1)[1])
        for init in init_seeds:
            tag = f"init{init}"
            if tag in results.get(key, {}):
                continue
            print(f"{key}, init seed {init}: train {row['steps']} steps, evaluate", flush=True)
            run_dir = out / f"{key.replace('/', '-')}-{tag}"
            train_run(row["encoder"], row["preset"], row["steps"], seed=seed, ee_loss=row["ee_loss"],
                      run_dir=run_dir, progress=False, init_seed=init)  # fmt: skip
            metrics = evaluate_run(run_dir)[0]
            results.setdefault(key, {})[tag] = {"test": metrics["test"]["mean"], "extreme": metrics["extreme"]["mean"]}
            results_path.parent.mkdir(parents=True, exist_ok=True)
            results_path.write_text(json.dumps(results, indent=2))

    def scores(key: str, figure: str) -> list[float]:
        return [results[key][f"init{i}"][figure] for i in init_seeds]

    print(f"\nrender MSE (0-255 scale) over init seeds {args.init_seeds}, each row's data seed kept")
    for key in keys:
        for figure in ("test", "extreme"):
            s = scores(key, figure)
            mean, std = statistics.mean(s), statistics.stdev(s)
            print(f"{key:16s} {figure:8s} {mean:7.3f} ± {std:.3f} ({std / mean:.1%} of the mean; "
                  f"the row's own training {source[key][figure]['mean']:.3f})")  # fmt: skip
    for a, b in itertools.pairwise(keys):
        if a.split("/")[1] == b.split("/")[1]:
            for figure in ("test", "extreme"):
                sa, sb = scores(a, figure), scores(b, figure)
                noise = statistics.mean([statistics.stdev(sa), statistics.stdev(sb)])
                gap = statistics.mean(sa) - statistics.mean(sb)
                print(f"{a} - {b} {figure}: {gap:+.3f} ({gap / statistics.mean(sb):+.1%}), "
                      f"{abs(gap) / noise:.1f}x one training's std")  # fmt: skip


if __name__ == "__main__":
    main()
