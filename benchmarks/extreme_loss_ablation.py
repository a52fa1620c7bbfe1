"""Is AVE's gap to VC on the extreme subset the architecture's or the loss's? A 2x2 over seeds.

The Pareto benchmark compares AVE-M (searched and trained with the Eq. 3 weight) with VC-M (searched and trained
without it), so two things differ at once. Here each seed's AVE-M and VC-M architectures of a Pareto results
file are each trained with and without the Eq. 3 weight, on the seed's data from the same initial weights, and
scored on the extreme subset and the whole test set. The two cells the Pareto run already trained are read from
its rows (their first training is exactly that training); the other two train under --out, resumably, and
every score is kept in benchmarks/results/.

    python benchmarks/extreme_loss_ablation.py \\
        --archs-from benchmarks/results/pareto-avatar-small-cpu-sdefault-tdefault.json
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import statistics
from pathlib import Path

from search_pareto import Results  # the sibling benchmark's locked results file

from hwnas.space.architecture import Architecture
from hwnas.workflows.runs import evaluate_run, train_run

LABELS = {"AVE-M": True, "VC-M": False}  # the Pareto rows, and whether their search and training used Eq. 3
LOSSES = {"eq3": True, "plain": False}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs-from", type=Path, required=True, help="a Pareto results file")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--out", type=Path, default=None, help="trainings; default benchmarks/out/<name>")
    parser.add_argument("--results", type=Path, default=None, help="default benchmarks/results/<name>.json")
    args = parser.parse_args()
    pareto = json.loads(args.archs_from.read_text())
    name = f"extreme-loss-{args.archs_from.stem}"
    out = args.out or Path("benchmarks/out") / name
    results = Results(args.results or Path("benchmarks/results") / f"{name}.json")
    seeds = sorted({key.split("/seed")[1] for key in pareto if key.startswith("VC-M/")}, key=int)

    def cell(key: str, row: dict, seed: int, ee: bool, trained: bool) -> dict:
        if trained:  # the Pareto row's first training is exactly this cell
            return {"test": row["test"]["mean"], "extreme": row["extreme"]["mean"], "from": "pareto"}
        got = train(Architecture.from_json(row["architecture"]), out / key.replace("/", "-"), args.preset, seed, ee)
        print(f"  {key}: test MSE {got['test']:.3f}, extreme {got['extreme']:.2f}", flush=True)
        return got

    for seed, (label, searched_with_eq3), (loss, ee) in itertools.product(seeds, LABELS.items(), LOSSES.items()):
        key, row = f"{label}/seed{seed}/{loss}", pareto.get(f"{label}/seed{seed}")
        if row is not None:
            results.update(key, functools.partial(cell, key, row, int(seed), ee, ee == searched_with_eq3))
    report(results.read(), seeds)


def train(arch: Architecture, run_dir: Path, preset: str, seed: int, ee_loss: bool) -> dict:
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir.parent / f"{run_dir.name}.arch.json"
    arch.save(path)
    train_run(
        str(path.resolve()), preset, seed=seed, task_options={"ee_loss": ee_loss}, run_dir=run_dir, progress=False
    )
    metrics = evaluate_run(run_dir)[0]
    return {"test": metrics["test"]["mean"], "extreme": metrics["extreme"]["mean"]}


def report(cells: dict[str, dict], seeds: list[str]) -> None:
    def per_seed(label: str, loss: str, figure: str) -> list[float]:
        return [cells[f"{label}/seed{s}/{loss}"][figure] for s in seeds if f"{label}/seed{s}/{loss}" in cells]

    def relative(a: list[float], b: list[float]) -> str:
        d = [x / y - 1 for x, y in zip(a, b, strict=True)]
        spread = f" ± {statistics.stdev(d):.1%}" if len(d) > 1 else ""
        return f"{statistics.mean(d):+.1%}{spread} ({', '.join(f'{x:+.0%}' for x in d)})"

    print(f"render MSE (0-255), mean over {len(seeds)} seeds, one training per cell")
    for figure in ("extreme", "test"):
        for label in LABELS:
            eq3, plain = per_seed(label, "eq3", figure), per_seed(label, "plain", figure)
            if eq3 and len(eq3) == len(plain):
                print(f"{figure:>8s} {label}: Eq. 3 {statistics.mean(eq3):.3f}, without {statistics.mean(plain):.3f}; "
                      f"Eq. 3 vs without {relative(eq3, plain)}")  # fmt: skip
        for loss in LOSSES:
            ave, vc = per_seed("AVE-M", loss, figure), per_seed("VC-M", loss, figure)
            if ave and len(ave) == len(vc):
                print(f"{figure:>8s} {loss:>5s} loss: AVE-M vs VC-M architecture {relative(ave, vc)}")


if __name__ == "__main__":
    main()
