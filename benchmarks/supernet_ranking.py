"""Does the supernet rank architectures as stand-alone training does? Kendall's tau between the two.

A one-shot search can only pick well what its supernet ranks well. The supernet's score of an architecture is
the held-out score of the sub-network it computes (every choice made certain, batch statistics); the
stand-alone score is that of the same architecture trained from scratch.

Two sources of architectures:
- ``--n N`` random architectures, each trained stand-alone here in its own resumable run folder under --out;
- ``--archs-from RESULTS`` (repeatable): the searched and random architectures of Pareto runs
  (benchmarks/search_pareto.py), whose stand-alone scores they already hold, per seed: only a supernet per seed
  is trained, so a change to the supernet's training is measured in minutes. Kendall's tau per seed, then
  mean ± std over seeds, and how many pairs of one seed and one latency target the supernet orders as
  stand-alone training does. Stand-alone means, by default, the rows' held-out score by the loss this run
  scores by (only rows with ``scored_by`` equal to the search's ``arch_loss`` are taken; rows without it were
  scored by the training loss); with ``--against test``, the rows' test render MSE, the figure the Pareto table
  compares (every row with an architecture is taken, whatever it was scored by).

Search settings (``--setting width_sampling=soft``) name the results, so variants are compared side by side;
every score is kept in benchmarks/results/ (tracked by git), so a run resumes across sessions.

    python benchmarks/supernet_ranking.py --space digits --preset small --n 10
    python benchmarks/supernet_ranking.py --space avatar --preset small --speedup 2 \\
        --archs-from benchmarks/results/pareto-avatar-small-cpu-sdefault-tdefault.json --setting width_sampling=soft
    python benchmarks/supernet_ranking.py --space avatar --preset small --against test \\
        --archs-from benchmarks/results/pareto-avatar-small-cpu-sdefault-tdefault.json \\
        --archs-from benchmarks/results/pareto-avatar-small-cpu-sdefault-tdefault-arch_loss=selection.json \\
        [--supernets-from "benchmarks/out/<the second file's name>/search/AVE-M-seed{seed}"]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import statistics
from pathlib import Path

from search_pareto import Results  # the sibling benchmark's locked results file

from hwnas.lut.fidelity import kendall, spearman
from hwnas.search.config import SearchConfig
from hwnas.search.target import LatencyTarget
from hwnas.space import get_preset
from hwnas.space.architecture import Architecture
from hwnas.workflows.runs import load_trained, train_run
from hwnas.workflows.searches import (
    SearchRequest,
    held_out_score,
    load_supernet,
    parse_setting,
    run_search,
    search_task,
    settings_tag,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="digits")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--speedup", type=float, default=2.0, help="the search's target (over the space's reference)")
    parser.add_argument("--n", type=int, default=10, help="random architectures")
    parser.add_argument("--archs-from", type=Path, action="append", default=[],
                        help="a Pareto results file: its rows' architectures (repeatable)")  # fmt: skip
    parser.add_argument("--against", choices=("stand-alone", "test"), default="stand-alone",
                        help="with --archs-from: rank against the rows' held-out score by this run's arch_loss, or "
                             "their test render MSE")  # fmt: skip
    parser.add_argument("--seeds", default=None, help="with --archs-from: only these seeds (comma-separated)")
    parser.add_argument("--supernets-from", default=None, metavar="DIR",
                        help="finished searches to rank with instead of training a supernet per seed, '{seed}' "
                             "in the path (a Pareto run's: benchmarks/out/<name>/search/AVE-M-seed{seed})")  # fmt: skip
    parser.add_argument("--setting", action="append", default=[], help="a search setting KEY=VALUE (repeatable)")
    parser.add_argument("--search-steps", type=int, default=None)
    parser.add_argument("--train-steps", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0, help="with --n: the seed of the search and the trainings")
    parser.add_argument("--workdir", type=Path, default=Path(".hwnas"))
    parser.add_argument("--lut-dir", type=Path, default=Path("lut"))
    parser.add_argument("--out", type=Path, default=None, help="checkpoints; default benchmarks/out/<name>")
    parser.add_argument("--results", type=Path, default=None, help="default benchmarks/results/<name>.json")
    args = parser.parse_args()

    settings = dict(parse_setting(s) for s in args.setting)
    tag = settings_tag(settings)
    source = "".join(f"-{path.stem}" for path in args.archs_from)
    if args.against == "test":
        source += "-vs-test"
    if args.supernets_from:  # named by the run the searches belong to
        trained = f"supernets={Path(args.supernets_from).parents[1].name}"
    else:
        trained = f"s{args.search_steps or 'default'}{tag}"
    name = f"ranking-{args.space}-{args.preset}-{args.device}-{trained}{source}"
    if not args.archs_from:
        name += f"-t{args.train_steps or 'default'}"
    out = args.out or Path("benchmarks/out") / name
    results_path = args.results or Path("benchmarks/results") / f"{name}.json"
    results = Results(results_path)  # processes ranking other seeds (--seeds) share it
    rows = results.read()
    space = get_preset(args.space, args.preset)
    by = settings.get("arch_loss", SearchConfig.arch_loss)  # the score a search compares architectures by

    def put(fields: dict[str, dict[str, float]]) -> None:
        for key, row_fields in fields.items():
            rows.setdefault(key, {}).update(row_fields)
        results.merge_all(fields)

    def supernet_scores(seed: int, archs: dict[str, Architecture]) -> None:
        """Every architecture's supernet score, from one search of ``seed`` (a later session needs no supernet)."""
        if all(key in rows and "supernet" in rows[key] for key in archs):
            return
        if args.supernets_from:
            search_dir = Path(args.supernets_from.format(seed=seed))
        else:
            search_dir = out / f"search-seed{seed}"
            run_search(
                SearchRequest(
                    args.space,
                    args.device,
                    LatencyTarget(speedup=args.speedup),
                    args.preset,
                    steps=args.search_steps,
                    seed=seed,
                    settings=settings,
                    out_dir=search_dir,
                    lut_dir=args.lut_dir,
                    workdir=args.workdir,
                    progress=False,
                )
            )
        net, task = load_supernet(search_dir, space), search_task(space, seed)
        put({key: {"supernet": held_out_score(net, task, arch, by)} for key, arch in archs.items()})

    if args.archs_from:
        seeds = {int(s) for s in args.seeds.split(",")} if args.seeds else set()
        by_seed: dict[int, dict[str, Architecture]] = {}
        targets: dict[str, float] = {}
        references: dict[str, dict[str, float]] = {}
        for path in args.archs_from:
            for label, row in json.loads(path.read_text()).items():
                seed = int(label.rsplit("seed", 1)[1]) if "/seed" in label else None
                key = label if len(args.archs_from) == 1 else f"{path.stem}:{label}"  # labels repeat across files
                reference = reference_score(row, args.against, by)
                if "architecture" in row and reference is not None and (seed in seeds or not seeds):
                    by_seed.setdefault(seed, {})[key] = Architecture.from_json(row["architecture"])
                    references[key] = {"stand_alone": reference}
                    targets[key] = row.get("target_ms", 0.0)
        if not by_seed:
            missing = "a test score" if args.against == "test" else f"a stand-alone score by the {by} loss"
            parser.error(f"no row of --archs-from has an architecture and {missing}; make the Pareto rows first, "
                         f"or rank with --setting arch_loss=<as its rows were scored>")  # fmt: skip
        put(references)
        taus = []
        for seed, archs in sorted(by_seed.items()):
            supernet_scores(seed, archs)
            taus.append(kendall([rows[k]["supernet"] for k in archs], [rows[k]["stand_alone"] for k in archs]))
            print(f"  seed {seed}: Kendall tau {taus[-1]:+.3f} over {len(archs)} architectures", flush=True)
        spread = statistics.stdev(taus) if len(taus) > 1 else 0.0
        which = f" ({trained})" if args.supernets_from else tag or " (default settings)"
        print(f"{args.space}/{args.preset}{which}: Kendall tau {statistics.mean(taus):+.3f} "
              f"± {spread:.3f} over {len(taus)} seeds")  # fmt: skip
        right, pairs = same_target_pairs(rows, by_seed, targets)
        print(f"pairs of one seed and target (what a search must order): {right}/{pairs} ordered as trained alone "
              f"(chance: half)")  # fmt: skip
        return

    rng = random.Random(args.seed)
    archs = {str(i): Architecture.sample(space, rng) for i in range(args.n)}
    supernet_scores(args.seed, archs)
    task = search_task(space, args.seed)
    for key, arch in archs.items():
        if "stand_alone" in rows[key]:
            continue
        path = out / "archs" / f"{key}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        arch.save(path)
        run_dir, _ = train_run(str(path.resolve()), args.preset, args.train_steps, seed=args.seed,
                               run_dir=out / "train" / key, progress=False)  # fmt: skip
        put({key: {"stand_alone": held_out_score(load_trained(run_dir)[2], task, arch_loss=by)}})
        print(f"  architecture {key}: supernet {rows[key]['supernet']:.4f}, stand-alone {rows[key]['stand_alone']:.4f}",
              flush=True)  # fmt: skip
    a, b = [rows[k]["supernet"] for k in archs], [rows[k]["stand_alone"] for k in archs]
    print(f"{args.space}/{args.preset}: {len(a)} architectures, held-out score (lower is better)")
    print(f"Kendall tau {kendall(a, b):+.3f}, Spearman rho {spearman(a, b):+.3f} (supernet vs stand-alone)")


def reference_score(row: dict, against: str, by: str) -> float | None:
    """What a Pareto row says of its architecture trained alone: its test render MSE, or its held-out score
    where that was taken by the loss ``by`` (rows without ``scored_by`` were scored by the training loss)."""
    if against == "test":
        return row.get("test", {}).get("mean")
    return row.get("stand_alone_score") if row.get("scored_by", "training") == by else None


def same_target_pairs(
    rows: dict, by_seed: dict[int, dict[str, Architecture]], targets: dict[str, float]
) -> tuple[int, int]:
    """How many pairs of architectures of one seed and one latency target the supernet orders as their
    stand-alone scores do: τ over all rows also rewards telling a large network from a small one, which the
    latency table already does for a search."""
    right = pairs = 0
    for archs in by_seed.values():
        for a, b in itertools.combinations(sorted(archs), 2):
            if targets[a] and math.isclose(targets[a], targets[b], rel_tol=1e-6):
                pairs += 1
                supernet = rows[a]["supernet"] - rows[b]["supernet"]
                right += supernet * (rows[a]["stand_alone"] - rows[b]["stand_alone"]) > 0
    return right, pairs


if __name__ == "__main__":
    main()
