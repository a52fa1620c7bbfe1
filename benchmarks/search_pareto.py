"""Searched encoders against the hand-designed baselines and random search: our Tables 1 and 2, over seeds.

Per seed: EEM / EEM-ch50 / EEM-res50 trained and evaluated; at four latency targets (AVE-XS/S/M/L: 1/6, 1/4,
1/2 and 1x EEM's measured latency, measured once for all seeds; XS is below the paper's 5x headline) a
differentiable search (AVE) and a random search
at equal budget and the same 3 % tolerance, each result trained from scratch; at the middle target the VC-NAS
ablation (no extreme-expression loss in search and training). Every encoder is measured end to end; scores are
held-out render MSE without any Eq. 3 weight. The supernet's ranking quality: each seed's AVE-M supernet scores
every searched and random architecture of that seed (rows made before it, on the next run that lists them), by
what the search compares architectures by (``arch_loss``), and Kendall's tau compares that with the same
architectures trained alone.

Prints per row mean ± std over seeds, AVE vs random at each target, the fastest searched encoder at no more
than EEM's test MSE (and of any label, and the best at 5x EEM's speed: how far the space's networks reach at
all), AVE vs VC on the extreme subset, and tau. Every finished row is kept in a results file
under benchmarks/results/ (tracked by git, so a run spans sessions: commit it), written under a file lock so
that several processes (say one per seed: ``--seeds 1``) can share it; searches and trainings checkpoint under
--out, so a killed run goes on where it stopped. With ``--ray`` the rows train at once as Ray tasks (one CPU,
or ``--gpus-per-job``, each; the seeds' AVE-M searches and the baselines first) and this process measures each
trained encoder afterwards, when nothing else runs; ``--remeasure`` measures the finished rows again.
``--baselines-from FILE`` shares the reference, baseline and random rows of another
results file (the default settings'), for settings that change only the differentiable search.
``--trainings N`` trains each row's encoder N times on its seed's data (other initial weights and batch orders)
and scores it by the mean: one training's test MSE varies by several percent, as much as the differences the
table is asked to show; existing rows get their further trainings on the next run. With ``--curve-at 100,400``
each further training made now also records its test MSE at those steps, and the report says how early in
training the rows of one seed take the order their first trainings end in.

    python benchmarks/search_pareto.py --preset small                      # hours on 2 cores
    python benchmarks/search_pareto.py --preset tiny --search-steps 30 --train-steps 30 --seeds 0   # a smoke run
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from hwnas.apps.avatar.data import task_preset
from hwnas.apps.avatar.task import AvatarTask
from hwnas.core.files import write_json
from hwnas.core.jobs import JobOptions, map_jobs
from hwnas.core.plots import pareto
from hwnas.deploy.endtoend import measure_encoder
from hwnas.lut.fidelity import kendall
from hwnas.search.config import SearchConfig
from hwnas.search.extremes import latency_range
from hwnas.search.loop import SEARCH_CHECKPOINT
from hwnas.search.target import LatencyTarget
from hwnas.space import get_preset
from hwnas.space.architecture import Architecture
from hwnas.train.rundir import read_json
from hwnas.train.trainer import CHECKPOINT
from hwnas.workflows.runs import evaluate_run, load_trained, read_run, train_run
from hwnas.workflows.searches import (
    REACH_TOLERANCE,
    SearchRequest,
    held_out_score,
    load_supernet,
    parse_setting,
    run_search,
    search_task,
    settings_tag,
)
from hwnas.workflows.tables import ensure_table, open_device

BASELINES = ("eem", "eem-ch50", "eem-res50")
TARGET_SHARES = {"XS": 1 / 6, "S": 0.25, "M": 0.5, "L": 1.0}  # of EEM's measured latency
RANKER = "AVE-M"  # whose supernet ranks the seed's architectures
OUT = Path("benchmarks/out")  # checkpoints, one folder per results name
SPEEDUP_BAR = 5.0  # the goal (docs/search-quality.md): a searched encoder this much faster than EEM at its MSE
REMEASURES = 3  # --remeasure: measurements per row, the fastest kept
FIRST_INIT_SEED = 100  # a row's further trainings: same data (its seed), initial weights and batches from 100, 101...
CURVE = "curve.json"  # in a further training's folder: its test MSE at each --curve-at step reached


@dataclass(frozen=True)
class Row:
    """One row of one seed: a baseline, or a search at a target and then its result trained from scratch."""

    seed: int
    label: str
    method: str  # baseline, differentiable or random
    target_ms: float | None
    ee_loss: bool = True

    @property
    def key(self) -> str:
        return f"{self.label}/seed{self.seed}"


def plan(seed: int, targets: dict[str, float]) -> list[Row]:
    """The rows of one seed; the ranker's search comes first."""
    rows = [Row(seed, b, "baseline", None) for b in BASELINES]
    rows += [Row(seed, f"AVE-{t}", "differentiable", targets[t]) for t in sorted(targets, key=lambda t: t != "M")]
    rows += [Row(seed, f"random-{t}", "random", targets[t]) for t in targets]
    return [*rows, Row(seed, "VC-M", "differentiable", targets["M"], False)] if "M" in targets else rows


# search settings that random search ignores: under them its rows are the base's too
DIFFERENTIABLE_ONLY = {"op_sampling", "width_sampling", "latency_loss", "latency_weight", "latency_step", "warmup",
                       "tau_start", "tau_end", "lr_arch"}  # fmt: skip


def shared(key: str, settings: dict[str, Any]) -> bool:
    """Whether a row is the same under ``settings`` as in the default run (``--baselines-from``): the
    reference and the baselines always, random search where the settings change only the differentiable one."""
    label = key.split("/")[0]
    if label.startswith("random-"):
        return settings.keys() <= DIFFERENTIABLE_ONLY
    return label in ("reference", *BASELINES)


class Results:
    """The results file: one JSON object of rows, read and written whole under a lock. With ``base`` (another
    results file) the shared rows are read from and written to that file, so a variant of the search is
    compared with the very rows, trainings and measurements of the default run."""

    def __init__(self, path: Path, base: Results | None = None, settings: dict[str, Any] | None = None):
        self.path, self.base, self.settings = path, base, settings or {}
        path.parent.mkdir(parents=True, exist_ok=True)
        self.lock = FileLock(str(path) + ".lock")

    def read(self) -> dict[str, dict]:
        rows = self._own_rows()
        if self.base is None:
            return rows
        # the base's rows were ranked by the base's supernet, not this run's: tau stays within one run
        base = {k: {f: v for f, v in r.items() if not f.endswith("_score")} for k, r in self.base.read().items()}
        return {
            **{k: r for k, r in base.items() if self.shared(k)},
            **{k: r for k, r in rows.items() if not self.shared(k)},
        }

    def update(self, key: str, make: Callable[[], dict]) -> dict:
        """The row ``key``, made (outside the lock) and written unless some process already has it."""
        if key in (rows := self.read()):
            return rows[key]
        row = make()
        return self._owner(key)._write(lambda rows: rows.setdefault(key, row))[key]

    def merge(self, key: str, fields: dict) -> None:
        self._owner(key)._write(lambda rows: rows[key].update(fields))

    def merge_all(self, fields: dict[str, dict]) -> None:
        """Fields of several rows of this file, new rows made, in one write."""

        def change(rows: dict[str, dict]) -> None:
            for key, row_fields in fields.items():
                rows.setdefault(key, {}).update(row_fields)

        self._write(change)

    def add_training(self, key: str, init_seed: int, scores: dict[str, float]) -> None:
        self._owner(key)._write(lambda rows: rows[key].setdefault("trainings", {}).__setitem__(str(init_seed), scores))

    def shared(self, key: str) -> bool:
        return self.base is not None and shared(key, self.settings)

    def _owner(self, key: str) -> Results:
        return self.base if self.shared(key) else self

    def _own_rows(self) -> dict[str, dict]:
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    def _write(self, change: Callable[[dict], Any]) -> dict[str, dict]:
        with self.lock:
            rows = self._own_rows()
            change(rows)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(rows, indent=2))
            tmp.replace(self.path)
        return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--search-steps", type=int, default=None, help="default: the task's")
    parser.add_argument("--train-steps", type=int, default=None, help="default: the preset's")
    parser.add_argument("--torch-device", default="cpu", help="where searches and trainings run")
    parser.add_argument("--setting", action="append", default=[],
                        help="a search setting KEY=VALUE (repeatable): names the results")  # fmt: skip
    parser.add_argument("--workdir", type=Path, default=Path(".hwnas"))
    parser.add_argument("--lut-dir", type=Path, default=Path("lut"))
    parser.add_argument("--out", type=Path, default=None, help="checkpoints; default benchmarks/out/<name>")
    parser.add_argument("--results", type=Path, default=None, help="default benchmarks/results/<name>.json")
    parser.add_argument("--baselines-from", type=Path, default=None,
                        help="a results file (of the default settings) whose reference, baseline and random rows "
                        "this run shares, with their checkpoints under benchmarks/out/<its name>: for settings that "
                        "change only the differentiable search")  # fmt: skip
    parser.add_argument("--only", default=None, help="comma-separated labels to make (eem, AVE-M, random-S, ...)")
    parser.add_argument("--report-only", action="store_true", help="print the table of the rows so far")
    parser.add_argument("--trainings", type=int, default=1,
                        help="train each row's encoder this many times (other initial weights, same data) and "
                        "score it by the mean: one training's noise is several %% of a score")  # fmt: skip
    parser.add_argument("--curve-at", default="", metavar="STEPS",
                        help="with --trainings: record each further training's test MSE at these steps too "
                             "(comma-separated): how early a training knows the order of the rows")  # fmt: skip
    parser.add_argument("--remeasure", action="store_true",
                        help="first measure the finished rows (--only, --seeds) again, on a quiet machine")  # fmt: skip
    parser.add_argument("--ray", action="store_true",
                        help="train rows as Ray tasks (one CPU each); measure them afterwards")  # fmt: skip
    parser.add_argument("--ray-address", default=None, help="with --ray: a running cluster ('auto')")
    parser.add_argument("--gpus-per-job", type=float, default=0.0, help="with --ray: the share of a GPU per row")
    args = parser.parse_args()
    try:
        args.curve_at = sorted({int(step) for step in args.curve_at.split(",") if step})
    except ValueError:
        parser.error(f"--curve-at {args.curve_at!r}: give training steps, comma-separated (100,400)")
    if any(step <= 0 for step in args.curve_at):
        parser.error("--curve-at: training steps are positive")
    jobs = JobOptions(args.ray, args.ray_address, gpus=args.gpus_per_job)
    jobs.check()

    name = (
        f"pareto-avatar-{args.preset}-{args.device}-s{args.search_steps or 'default'}-t{args.train_steps or 'default'}"
    )
    args.settings = dict(parse_setting(s) for s in args.setting)
    name += settings_tag(args.settings)
    out = args.out or OUT / name
    base = args.baselines_from
    if base is not None and not base.is_file():
        parser.error(f"--baselines-from {base}: no such results file; give one that benchmarks/results/ holds")
    results = Results(
        args.results or Path("benchmarks/results") / f"{name}.json", base and Results(base), args.settings
    )
    if args.report_only:
        report(results.read(), f"avatar/{args.preset} on {args.device}")
        return

    space = get_preset("avatar", args.preset)
    device, backend = open_device(args.device)
    table, _ = ensure_table(device, backend, space, args.workdir, args.lut_dir, progress=False)

    def measure_reference() -> dict:
        net = AvatarTask.reference_network("eem", args.preset)
        return {"eem_ms": measure_encoder(net, device, backend, args.workdir).median_ms}

    eem_ms = results.update("reference", measure_reference)["eem_ms"]
    targets = {t: share * eem_ms for t, share in TARGET_SHARES.items()}
    fastest, slowest = latency_range(space, table)
    for t, ms in list(targets.items()):
        if not fastest * (1 - REACH_TOLERANCE) <= ms <= slowest * (1 + REACH_TOLERANCE):
            print(f"target {t} ({ms:.3f} ms) lies outside what the space reaches here ({fastest:.3f}-{slowest:.3f} ms)")
            del targets[t]
    rows = [r for seed in (int(s) for s in args.seeds.split(",")) for r in plan(seed, targets)]
    rows = [r for r in rows if args.only is None or r.label in args.only.split(",")]
    maker = RowMaker(args, args.train_steps or task_preset(args.preset).steps, out, base and OUT / base.stem)
    if args.remeasure:
        remeasure(results, rows, maker, device, backend, args.workdir)
    waves = [rows]
    if jobs.ray:  # the rankers' searches first: every other searched row is scored by its seed's AVE-M supernet
        first = [r for r in rows if r.label == RANKER or r.method == "baseline"]
        waves = [first, [r for r in rows if r not in first]]
    for wave in waves:
        todo = [r for r in wave if r.key not in results.read()]
        # as Ray tasks the rows train at once and are measured afterwards, one by one, when nothing else runs
        made = map_jobs(maker, todo, jobs, desc="rows", progress=True) if jobs.ray else [None] * len(todo)
        for row, metrics in zip(todo, made, strict=True):
            done = results.update(
                row.key,
                lambda r=row, m=metrics: measured(m or maker(r), maker.run_dir(r.key), device, backend, args.workdir),
            )
            print(f"  {row.key}: {done['measured_ms']:.3f} ms, test MSE {done['test']['mean']:.2f}, "
                  f"extreme {done['extreme']['mean']:.2f}", flush=True)  # fmt: skip
    made = results.read()
    for row in rows:  # searched rows made before their seed's ranker existed
        got = made.get(row.key, {})
        if "architecture" not in got or "supernet_score" in got or results.shared(row.key):
            continue
        if scores := maker.rank(row, Architecture.from_json(got["architecture"])):
            results.merge(row.key, scores)
    made = results.read()
    todo = [(row, init) for row in rows for init in range(FIRST_INIT_SEED, FIRST_INIT_SEED + args.trainings - 1)
            if str(init) not in made[row.key].get("trainings", {})]  # fmt: skip
    trained = map_jobs(maker.train_again, todo, jobs, desc="trainings") if jobs.ray else map(maker.train_again, todo)
    for (row, init), scores in zip(todo, trained, strict=True):  # each written as it comes: a kill loses one
        results.add_training(row.key, init, scores)
        print(f"  {row.key}, init seed {init}: test MSE {scores['test']:.2f}, extreme {scores['extreme']:.2f}",
              flush=True)  # fmt: skip

    finished = results.read()
    report(finished, f"avatar/{args.preset} on {device.name}")
    png = pareto(
        [(k, r["measured_ms"], r["test"]["mean"]) for k, r in finished.items() if k != "reference"],
        out / "pareto.png",
        "test MSE",
    )
    print(f"wrote {results.path} and {png}")


class RowMaker:
    """Makes one row but for its latency: search (unless a baseline), train from scratch, evaluate, rank. A job:
    it needs no device, so it may run as a Ray task."""

    def __init__(self, args: argparse.Namespace, train_steps: int, out: Path, base_out: Path | None = None):
        self.args, self.train_steps, self.out, self.base_out = args, train_steps, out, base_out
        self.rankers: dict[int, tuple] = {}

    def run_dir(self, key: str) -> Path:
        out = self.base_out if self.base_out is not None and shared(key, self.args.settings) else self.out
        return out / "train" / key.replace("/", "-")

    def __call__(self, row: Row) -> dict:
        print(f"{row.key}: {row.method}, train, evaluate", flush=True)
        a = self.args
        if row.method == "baseline":
            return {**self.train(row, row.label), "kind": "baseline"}
        outcome = run_search(
            SearchRequest("avatar", a.device, LatencyTarget(row.target_ms), preset=a.preset, method=row.method,
                          steps=a.search_steps, seed=row.seed, task_options={"ee_loss": row.ee_loss},
                          settings=a.settings, out_dir=self.out / "search" / row.key.replace("/", "-"),
                          lut_dir=a.lut_dir, workdir=a.workdir, torch_device=a.torch_device, progress=False)
        )  # fmt: skip
        metrics = self.train(row, str(outcome.arch_path.resolve()))
        r = outcome.report
        made = {
            **metrics,
            "search_measured_ms": r["measured"]["measured_ms"],
            "predicted_ms": r["predicted_ms"],
            "target_ms": row.target_ms,
            "search_wall_s": r["wall_s"],
            "kind": row.method if row.ee_loss else "vc",
            "architecture": outcome.architecture.to_json(),
        }
        return {**made, **self.rank(row, outcome.architecture)}

    def rank(self, row: Row, arch: Architecture) -> dict:
        """The row's architecture scored by its seed's AVE-M supernet and as trained alone (Kendall's tau), by
        what the search compares architectures by; nothing while that supernet or the training is missing."""
        ranker, run_dir = self.ranker(row.seed), self.run_dir(row.key)
        if ranker is None or not (run_dir / CHECKPOINT).is_file():
            return {}
        supernet, task = ranker
        by = self.args.settings.get("arch_loss", SearchConfig.arch_loss)
        return {
            "supernet_score": held_out_score(supernet, task, arch, by),
            "stand_alone_score": held_out_score(load_trained(run_dir)[2], task, arch_loss=by),
            "scored_by": by,
        }

    def train(self, row: Row, encoder: str) -> dict:
        a = self.args
        _, result = train_run(encoder, a.preset, self.train_steps, seed=row.seed, task_options={"ee_loss": row.ee_loss},
                              run_dir=self.run_dir(row.key), progress=False, torch_device=a.torch_device)  # fmt: skip
        return {**evaluate_run(self.run_dir(row.key))[0], "train_wall_s": result["wall_s"]}

    def train_again(self, job: tuple[Row, int]) -> dict:
        """The row's encoder trained again on its seed's data from the initial weights of ``init``, and scored;
        paused at each ``--curve-at`` step to score it there too (a pause changes nothing of the training)."""
        row, init = job
        first = self.run_dir(row.key)
        run_dir = first.with_name(f"{first.name}-init{init}")
        encoder = read_run(first).encoder
        curve = read_json(run_dir / CURVE) if (run_dir / CURVE).is_file() else {}
        for stop in [*(step for step in self.args.curve_at if step < self.train_steps), self.train_steps]:
            if str(stop) in curve:  # scored there before a kill: the training is past it, no task to build again
                continue
            train_run(encoder, self.args.preset, self.train_steps, seed=row.seed, task_options={"ee_loss": row.ee_loss},
                      run_dir=run_dir, progress=False, torch_device=self.args.torch_device, init_seed=init,
                      stop_after=stop)  # fmt: skip
            if stop < self.train_steps:
                metrics = evaluate_run(run_dir)[0]
                if metrics["steps"] == stop:  # not a training that had gone past it before --curve-at
                    curve[str(stop)] = metrics["test"]["mean"]
                    write_json(run_dir / CURVE, curve)
        metrics = evaluate_run(run_dir)[0]
        scores = {"test": metrics["test"]["mean"], "extreme": metrics["extreme"]["mean"]}
        return {**scores, "curve": {**curve, str(self.train_steps): scores["test"]}} if curve else scores

    def ranker(self, seed: int) -> tuple | None:
        """The seed's AVE-M supernet (its search is planned first) and the search task that scores with it; None
        where this run has no AVE-M search (``--only`` left it out)."""
        search_dir = self.out / "search" / f"{RANKER}-seed{seed}"
        if seed not in self.rankers and (search_dir / SEARCH_CHECKPOINT).exists():
            space = get_preset("avatar", self.args.preset)
            self.rankers[seed] = (load_supernet(search_dir, space), search_task(space, seed))
        return self.rankers.get(seed)


def measured(metrics: dict, run_dir: Path, device, backend, workdir: Path) -> dict:
    """A made row with its trained encoder measured end to end on the device."""
    m = measure_encoder(load_trained(run_dir)[2], device, backend, workdir)
    return {**metrics, "measured_ms": m.median_ms, "iqr_ms": m.iqr_ms}


def remeasure(results: Results, rows: list[Row], maker: RowMaker, device, backend, workdir: Path) -> None:
    """The finished ones of ``rows`` measured again (on a quiet machine: rows measured while other work ran are
    slow), REMEASURES times each, keeping the fastest: now and then a measurement on a shared machine runs slow
    throughout (seen here: 0.18, then 0.31, then 0.18 ms; once two of three), and interference only adds time."""
    made = results.read()
    for key in (r.key for r in rows if r.key in made):
        row = made[key]
        runs = sorted((measured({}, maker.run_dir(key), device, backend, workdir) for _ in range(REMEASURES)),
                      key=lambda m: m["measured_ms"])  # fmt: skip
        again = runs[0]
        results.merge(key, {**again, "first_measured_ms": row.get("first_measured_ms", row["measured_ms"])})
        each = ", ".join(f"{m['measured_ms']:.3f}" for m in runs)
        print(f"  {key}: {row['measured_ms']:.3f} -> {again['measured_ms']:.3f} ms (of {each})", flush=True)


def trainings_of(row: dict, figure: str = "test") -> list[float]:
    """The row's ``figure`` (test, extreme MSE) from each of its trainings (none for the reference)."""
    if figure not in row:
        return []
    return [row[figure]["mean"], *(t[figure] for t in row.get("trainings", {}).values())]


def training_agreement(rows: dict[str, dict]) -> tuple[int, int] | None:
    """How often two independent trainings order an AVE row and the random row of its target and seed alike: the
    ceiling of any ranking a search could be scored against, and how far apart the two architectures are."""
    alike = cases = 0
    for key, ave in rows.items():
        other = rows.get(key.replace("AVE-", "random-", 1)) if key.startswith("AVE-") else None
        if other is None:
            continue
        a, b = trainings_of(ave), trainings_of(other)
        for i, j in itertools.combinations(range(min(len(a), len(b))), 2):
            cases += 1
            alike += (a[i] - b[i]) * (a[j] - b[j]) > 0
    return (alike, cases) if cases else None


def curve_order(rows: dict[str, dict]) -> dict[int, tuple[list[float], int, int]]:
    """Per step of the trainings' curves (``--curve-at``): Kendall's tau per seed between the rows' test MSE at
    that step of a further training and the test MSE their first training ends with (other initial weights), and
    how many pairs of one seed and target the two order alike. No search that spends that many steps on an
    architecture can know more of its final score than its own training by then does; at the last step the
    figures are two full trainings' agreement, the ceiling of any ranking."""
    curves = {}
    for key, row in rows.items():
        if curve := next((t["curve"] for t in row.get("trainings", {}).values() if "curve" in t), None):
            curves[key] = curve
    by_seed: dict[str, list[str]] = {}
    for key in curves:
        by_seed.setdefault(key.split("/")[1], []).append(key)
    order = {}
    for step in sorted({int(s) for curve in curves.values() for s in curve}):
        taus, right, pairs = [], 0, 0
        for keys in by_seed.values():
            keys = [k for k in keys if str(step) in curves[k]]
            early, final = [curves[k][str(step)] for k in keys], [rows[k]["test"]["mean"] for k in keys]
            targets = [rows[k].get("target_ms") for k in keys]  # one expression of EEM's latency per target
            if len(keys) >= 3:
                taus.append(kendall(early, final))
            for i, j in itertools.combinations(range(len(keys)), 2):
                if targets[i] is not None and targets[i] == targets[j]:
                    pairs += 1
                    right += (early[i] - early[j]) * (final[i] - final[j]) > 0
        order[step] = (taus, right, pairs)
    return order


def score(row: dict, figure: str) -> float:
    """The row's ``figure`` as the mean over its trainings."""
    return statistics.mean(trainings_of(row, figure))


def mean_std(values: list[float]) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {std:.3f}"


def report(rows: dict[str, dict], title: str) -> None:
    by_label: dict[str, list[dict]] = {}
    for key, r in rows.items():
        if key != "reference":
            by_label.setdefault(key.split("/")[0], []).append(r)
    if not by_label:
        print("no rows yet")
        return
    if "reference" not in rows:
        print("no reference row: a variant's results file reads it, and the baseline rows, with --baselines-from")
        return
    eem_ms = rows["reference"]["eem_ms"]
    print(f"\n{title}: render MSE on the 0-255 scale, mean ± std over seeds; EEM measured at {eem_ms:.3f} ms")
    print(f"{'encoder':10s} {'n':>2s} {'trainings':>9s} {'target':>7s} {'measured ms':>15s} {'off target':>15s} "
          f"{'MFLOPs':>8s} {'test MSE':>15s} {'extreme MSE':>15s}")  # fmt: skip
    for label, rs in by_label.items():
        target = f"{rs[0]['target_ms']:.3f}" if "target_ms" in rs[0] else "-"
        offs = [r["measured_ms"] / r["target_ms"] - 1 for r in rs if "target_ms" in r]
        off = f"{min(offs):+.0%}..{max(offs):+.0%}" if offs else "-"
        trainings = "-".join(str(n) for n in sorted({len(trainings_of(r)) for r in rs}))
        test, extreme = (mean_std([score(r, figure) for r in rs]) for figure in ("test", "extreme"))
        print(f"{label:10s} {len(rs):2d} {trainings:>9s} {target:>7s} {mean_std([r['measured_ms'] for r in rs]):>15s} "
              f"{off:>15s} {statistics.mean(r['mflops'] for r in rs):8.2f} {test:>15s} {extreme:>15s}")  # fmt: skip
    noise = [statistics.stdev(s) / statistics.mean(s) for r in rows.values() if len(s := trainings_of(r)) > 1]
    if noise:
        print(f"one training's noise (same architecture and data): test MSE std {statistics.mean(noise):.1%} of the "
              f"mean, over {len(noise)} rows with several trainings")  # fmt: skip

    def paired(a: str, b: str, figure: str) -> tuple[float, float, list[float]] | None:
        """The two labels' mean ``figure`` over the seeds both have (rows made so far may cover other seeds), and
        a's relative difference to b on each of those seeds: a seed's data moves both rows alike, so the spread
        of the per-seed differences, not the rows' spread over seeds, says how sure a difference is."""
        seeds = sorted(
            {k.split("/")[1] for k in rows if k.startswith(f"{a}/")}
            & {k.split("/")[1] for k in rows if k.startswith(f"{b}/")}
        )
        if not seeds:
            return None
        pairs = [(score(rows[f"{a}/{s}"], figure), score(rows[f"{b}/{s}"], figure)) for s in seeds]
        return statistics.mean(x for x, _ in pairs), statistics.mean(y for _, y in pairs), [x / y - 1 for x, y in pairs]

    def differences(per_seed: list[float]) -> str:
        spread = f" ± {statistics.stdev(per_seed):.1%}" if len(per_seed) > 1 else ""
        each = ", ".join(f"{d:+.0%}" for d in per_seed)
        return f"{statistics.mean(per_seed):+.1%}{spread} per seed: {each}; {len(per_seed)} seeds"

    for t in TARGET_SHARES:
        if (got := paired(f"AVE-{t}", f"random-{t}", "test")) is not None:
            ave, rnd, per_seed = got
            print(f"target {t}: AVE test MSE {ave:.3f} vs random {rnd:.3f} ({differences(per_seed)})")
    if (agreement := training_agreement(rows)) is not None:
        alike, cases = agreement
        print(f"AVE vs random at one target and seed: two trainings order the pair alike in {alike}/{cases} cases "
              f"(chance: half; every case, if the two architectures differed beyond training noise)")  # fmt: skip
    vs_eem = {  # each label's mean measured latency, and its test MSE paired with EEM's on the seeds both have
        label: (statistics.mean(r["measured_ms"] for r in rs), got)
        for label, rs in by_label.items()
        if label != "eem" and (got := paired(label, "eem", "test")) is not None
    }
    ok = [(ms, label, len(got[2])) for label, (ms, got) in vs_eem.items() if got[0] <= got[1]]
    if searched := [o for o in ok if o[1].startswith("AVE")]:
        ms, label, n = min(searched)
        print(f"fastest searched encoder at no more than EEM's test MSE: {label}, {eem_ms / ms:.2f}x faster than EEM "
              f"({n} seeds)")  # fmt: skip
    elif "eem" in by_label:
        print("no searched encoder reaches EEM's test MSE at this budget")
    # every label, random search's too: whether the space's trained networks match EEM at the bar's speed-up at all
    if ok and (not searched or min(ok) != min(searched)):
        ms, label, n = min(ok)
        print(f"fastest encoder of any label at no more than EEM's test MSE: {label}, {eem_ms / ms:.2f}x ({n} seeds)")
    at_bar = [(got[2], label) for label, (ms, got) in vs_eem.items() if eem_ms / ms >= SPEEDUP_BAR]
    if at_bar:
        per_seed, label = min(at_bar, key=lambda b: statistics.mean(b[0]))
        print(
            f"best encoder at {SPEEDUP_BAR:g}x EEM's speed or more: {label}, test MSE vs EEM's {differences(per_seed)}"
        )
    if (got := paired("AVE-M", "VC-M", "extreme")) is not None:
        ave, vc, per_seed = got
        print(f"extreme subset at target M: AVE {ave:.3f} vs VC {vc:.3f} ({differences(per_seed)})")
    for step, (taus, right, pairs) in curve_order(rows).items():
        if taus:
            print(f"a further training at step {step:4d} orders a seed's rows as their first trainings end: Kendall "
                  f"tau {mean_std(taus)} over {len(taus)} seeds; same-target pairs {right}/{pairs}")  # fmt: skip
    taus = []
    for seed in sorted({k.split("/")[1] for k in rows if "/" in k}):
        ranked = [r for k, r in rows.items() if k.endswith(f"/{seed}") and "supernet_score" in r]
        if len(ranked) >= 3:
            taus.append(kendall([r["supernet_score"] for r in ranked], [r["stand_alone_score"] for r in ranked]))
    if taus:
        n = sum(1 for r in rows.values() if "supernet_score" in r)
        print(f"supernet ranking: Kendall tau {mean_std(taus)} over {len(taus)} seeds ({n} architectures)")


if __name__ == "__main__":
    main()
