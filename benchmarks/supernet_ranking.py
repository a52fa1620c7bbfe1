"""Does the supernet rank architectures as stand-alone training does? Kendall's tau over random architectures.

Runs (or resumes) a search of a space preset, then for N random architectures compares the held-out score of
the sub-network the trained supernet computes (every choice made certain, batch statistics) with the score
of the same architecture trained from scratch; prints Kendall's tau and Spearman's rho between the two.
A one-shot search can only pick well what its supernet ranks well. The supernet scores all N
architectures first; each trained architecture is kept in its own resumable run folder under --out, and every
score in benchmarks/results/ (tracked by git, so a run spans sessions without the search's checkpoint).

    python benchmarks/supernet_ranking.py --space digits --preset small --n 10
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from hwnas.lut.fidelity import kendall, spearman
from hwnas.space import get_preset
from hwnas.space.architecture import Architecture
from hwnas.workflows.runs import load_trained, train_run
from hwnas.workflows.searches import SearchRequest, held_out_score, load_supernet, run_search, search_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="digits")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--speedup", type=float, default=2.0, help="the search's target (over the space's reference)")
    parser.add_argument("--n", type=int, default=10, help="random architectures")
    parser.add_argument("--search-steps", type=int, default=None)
    parser.add_argument("--train-steps", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=Path(".hwnas"))
    parser.add_argument("--lut-dir", type=Path, default=Path("lut"))
    parser.add_argument("--out", type=Path, default=None, help="checkpoints; default benchmarks/out/<name>")
    parser.add_argument("--results", type=Path, default=None, help="default benchmarks/results/<name>.json")
    args = parser.parse_args()

    steps = f"-s{args.search_steps or 'default'}-t{args.train_steps or 'default'}"
    name = f"ranking-{args.space}-{args.preset}-{args.device}{steps}"
    out = args.out or Path("benchmarks/out") / name
    space = get_preset(args.space, args.preset)
    results_path = args.results or Path("benchmarks/results") / f"{name}.json"
    results_path.parent.mkdir(parents=True, exist_ok=True)
    rows = json.loads(results_path.read_text()) if results_path.exists() else {}
    rng = random.Random(args.seed)
    archs = {str(i): Architecture.sample(space, rng) for i in range(args.n)}
    task = search_task(space, args.seed)
    if any(key not in rows for key in archs):  # every supernet score first: a later session needs no supernet
        run_search(SearchRequest(args.space, args.device, None, args.speedup, args.preset, steps=args.search_steps,
                                 seed=args.seed, out_dir=out / "search", lut_dir=args.lut_dir, workdir=args.workdir,
                                 progress=False))  # fmt: skip
        net = load_supernet(out / "search", space)
        for key, arch in archs.items():
            rows.setdefault(key, {"supernet": held_out_score(net, task, arch)})
        results_path.write_text(json.dumps(rows, indent=2))
    for key, arch in archs.items():
        if "stand_alone" in rows[key]:
            continue
        path = out / "archs" / f"{key}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        arch.save(path)
        run_dir, _ = train_run(str(path.resolve()), args.preset, args.train_steps, seed=args.seed,
                               run_dir=out / "train" / key, progress=False)  # fmt: skip
        rows[key]["stand_alone"] = held_out_score(load_trained(run_dir)[2], task)
        results_path.write_text(json.dumps(rows, indent=2))
        print(f"  architecture {key}: supernet {rows[key]['supernet']:.4f}, stand-alone {rows[key]['stand_alone']:.4f}",
              flush=True)  # fmt: skip
    done = [k for k in archs if "stand_alone" in rows[k]]
    a, b = [rows[k]["supernet"] for k in done], [rows[k]["stand_alone"] for k in done]
    print(f"{args.space}/{args.preset}: {len(a)} architectures, held-out score (lower is better)")
    print(f"Kendall tau {kendall(a, b):+.3f}, Spearman rho {spearman(a, b):+.3f} (supernet vs stand-alone)")


if __name__ == "__main__":
    main()
