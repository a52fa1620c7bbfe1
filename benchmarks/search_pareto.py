"""Searched encoders against the hand-designed baselines and random search: our Tables 1 and 2, over seeds.

Per seed: EEM / EEM-ch50 / EEM-res50 trained and evaluated; at three latency targets (AVE-S/M/L: 1/4, 1/2
and 1x EEM's measured latency, measured once for all seeds) a differentiable search (AVE) and a random search
at equal budget and the same 3 % tolerance, each result trained from scratch; at the middle target the VC-NAS
ablation (no extreme-expression loss in search and training). Every encoder is measured end to end; scores are
held-out render MSE without any Eq. 3 weight. The supernet's ranking quality: each seed's AVE-M supernet scores
every searched and random architecture of that seed, and Kendall's tau compares that with the same
architectures trained alone.

Prints per row mean ± std over seeds, AVE vs random at each target, the fastest searched encoder at no more
than EEM's test MSE, AVE vs VC on the extreme subset, and tau. Every finished row is kept in a results file
under benchmarks/results/ (tracked by git, so a run spans sessions: commit it), written under a file lock so
that several processes (say one per seed: ``--seeds 1``) can share it; searches and trainings checkpoint under
--out, so a killed run goes on where it stopped.

    python benchmarks/search_pareto.py --preset small                      # hours on 2 cores
    python benchmarks/search_pareto.py --preset tiny --search-steps 30 --train-steps 30 --seeds 0   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock

from hwnas.core.plots import pareto
from hwnas.deploy.endtoend import measure_encoder
from hwnas.lut.fidelity import kendall
from hwnas.search.extremes import latency_range
from hwnas.space import get_preset
from hwnas.tasks.avatar.avatar_task import AvatarTask
from hwnas.tasks.avatar.data import task_preset
from hwnas.workflows.runs import evaluate_run, load_trained, train_run
from hwnas.workflows.searches import (
    REACH_TOLERANCE,
    SearchRequest,
    held_out_score,
    load_supernet,
    run_search,
    search_task,
)
from hwnas.workflows.tables import ensure_table, open_device

BASELINES = ("eem", "eem-ch50", "eem-res50")
TARGET_SHARES = {"S": 0.25, "M": 0.5, "L": 1.0}  # of EEM's measured latency
RANKER = "AVE-M"  # whose supernet ranks the seed's architectures


def plan(shares: dict[str, float]) -> list[tuple[str, str, str | None, bool]]:
    """(label, method, target key, Eq. 3 loss) per row of one seed; the ranker's search comes first."""
    rows = [(b, "baseline", None, True) for b in BASELINES]
    rows += [(f"AVE-{t}", "differentiable", t, True) for t in sorted(shares, key=lambda t: t != "M")]
    rows += [(f"random-{t}", "random", t, True) for t in shares]
    return [*rows, ("VC-M", "differentiable", "M", False)] if "M" in shares else rows


class Results:
    """The results file: one JSON object of rows, read and written whole under a lock."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.lock = FileLock(str(path) + ".lock")

    def read(self) -> dict[str, dict]:
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    def update(self, key: str, make: Callable[[], dict]) -> dict:
        """The row ``key``, made (outside the lock) and written unless some process already has it."""
        if key in (rows := self.read()):
            return rows[key]
        row = make()
        with self.lock:
            rows = self.read()
            rows.setdefault(key, row)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(rows, indent=2))
            tmp.replace(self.path)
        return rows[key]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--search-steps", type=int, default=None, help="default: the task's")
    parser.add_argument("--train-steps", type=int, default=None, help="default: the preset's")
    parser.add_argument("--torch-device", default="cpu", help="where searches and trainings run")
    parser.add_argument("--workdir", type=Path, default=Path(".hwnas"))
    parser.add_argument("--lut-dir", type=Path, default=Path("lut"))
    parser.add_argument("--out", type=Path, default=None, help="checkpoints; default benchmarks/out/<name>")
    parser.add_argument("--results", type=Path, default=None, help="default benchmarks/results/<name>.json")
    parser.add_argument("--only", default=None, help="comma-separated labels to make (eem, AVE-M, random-S, ...)")
    parser.add_argument("--report-only", action="store_true", help="print the table of the rows so far")
    args = parser.parse_args()

    name = (
        f"pareto-avatar-{args.preset}-{args.device}-s{args.search_steps or 'default'}-t{args.train_steps or 'default'}"
    )
    out = args.out or Path("benchmarks/out") / name
    results = Results(args.results or Path("benchmarks/results") / f"{name}.json")
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
    bench = Bench(args, space, device, backend, args.train_steps or task_preset(args.preset).steps, out)
    for seed in (int(s) for s in args.seeds.split(",")):
        for label, method, target_key, ee_loss in plan(targets):
            if args.only is not None and label not in args.only.split(","):
                continue
            key = f"{label}/seed{seed}"
            target = targets[target_key] if target_key else None
            row = results.update(key, lambda: bench.row(seed, label, method, target, ee_loss))  # noqa: B023
            print(f"  {key}: {row['measured_ms']:.3f} ms, test MSE {row['test']['mean']:.2f}, "
                  f"extreme {row['extreme']['mean']:.2f}", flush=True)  # fmt: skip

    rows = results.read()
    report(rows, f"avatar/{args.preset} on {device.name}")
    png = pareto(
        [(k, r["measured_ms"], r["test"]["mean"]) for k, r in rows.items() if k != "reference"],
        out / "pareto.png",
        "test MSE",
    )
    print(f"wrote {results.path} and {png}")


class Bench:
    """Makes one row: search (unless a baseline), train from scratch, evaluate, measure, and rank."""

    def __init__(self, args, space, device, backend, train_steps: int, out: Path):
        self.args, self.space, self.device, self.backend = args, space, device, backend
        self.train_steps, self.out = train_steps, out
        self.rankers: dict[int, tuple] = {}

    def row(self, seed: int, label: str, method: str, target: float | None, ee_loss: bool) -> dict:
        print(f"{label}/seed{seed}: {method}, train, evaluate, measure", flush=True)
        a = self.args
        if method == "baseline":
            metrics, run_dir = self.train(seed, label, label, ee_loss)
            measured = measure_encoder(load_trained(run_dir)[2], self.device, self.backend, a.workdir)
            return {**metrics, "measured_ms": measured.median_ms, "kind": "baseline"}
        outcome = run_search(
            SearchRequest("avatar", a.device, target, preset=a.preset, method=method, steps=a.search_steps,
                          seed=seed, ee_loss=ee_loss, out_dir=self.out / "search" / f"{label}-seed{seed}",
                          lut_dir=a.lut_dir, workdir=a.workdir, torch_device=a.torch_device, progress=False)
        )  # fmt: skip
        metrics, run_dir = self.train(seed, label, str(outcome.arch_path.resolve()), ee_loss)
        r = outcome.report
        supernet, task = self.ranker(seed)
        return {
            **metrics,
            **r["measured"],
            "predicted_ms": r["predicted_ms"],
            "target_ms": target,
            "search_wall_s": r["wall_s"],
            "kind": method if ee_loss else "vc",
            "architecture": outcome.architecture.to_json(),
            "supernet_score": held_out_score(supernet, task, outcome.architecture),
            "stand_alone_score": held_out_score(load_trained(run_dir)[2], task),
        }

    def train(self, seed: int, label: str, encoder: str, ee_loss: bool) -> tuple[dict, Path]:
        run_dir, result = train_run(encoder, self.args.preset, self.train_steps, seed=seed, ee_loss=ee_loss,
                                    run_dir=self.out / "train" / f"{label}-seed{seed}", progress=False,
                                    torch_device=self.args.torch_device)  # fmt: skip
        return {**evaluate_run(run_dir)[0], "train_wall_s": result["wall_s"]}, run_dir

    def ranker(self, seed: int) -> tuple:
        """The seed's AVE-M supernet (its search is planned first) and the search task that scores with it."""
        if seed not in self.rankers:
            supernet = load_supernet(self.out / "search" / f"{RANKER}-seed{seed}", self.space)
            self.rankers[seed] = (supernet, search_task(self.space, seed))
        return self.rankers[seed]


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
    eem_ms = rows["reference"]["eem_ms"]
    print(f"\n{title}: render MSE on the 0-255 scale, mean ± std over seeds; EEM measured at {eem_ms:.3f} ms")
    print(f"{'encoder':10s} {'n':>2s} {'target':>7s} {'measured ms':>15s} {'off target':>15s} {'MFLOPs':>8s} "
          f"{'test MSE':>15s} {'extreme MSE':>15s}")  # fmt: skip
    for label, rs in by_label.items():
        target = f"{rs[0]['target_ms']:.3f}" if "target_ms" in rs[0] else "-"
        offs = [r["measured_ms"] / r["target_ms"] - 1 for r in rs if "target_ms" in r]
        off = f"{min(offs):+.0%}..{max(offs):+.0%}" if offs else "-"
        print(f"{label:10s} {len(rs):2d} {target:>7s} {mean_std([r['measured_ms'] for r in rs]):>15s} {off:>15s} "
              f"{statistics.mean(r['mflops'] for r in rs):8.2f} {mean_std([r['test']['mean'] for r in rs]):>15s} "
              f"{mean_std([r['extreme']['mean'] for r in rs]):>15s}")  # fmt: skip

    def mean(label: str, figure: str) -> float | None:
        rs = by_label.get(label)
        return statistics.mean(r[figure]["mean"] for r in rs) if rs else None

    for t in TARGET_SHARES:
        ave, rnd = mean(f"AVE-{t}", "test"), mean(f"random-{t}", "test")
        if ave is not None and rnd is not None:
            print(f"target {t}: AVE test MSE {ave:.3f} vs random {rnd:.3f} ({ave / rnd - 1:+.1%})")
    eem = mean("eem", "test")
    if eem is not None:
        ok = [(label, rs) for label, rs in by_label.items() if label.startswith("AVE") and mean(label, "test") <= eem]
        if ok:
            label, rs = min(ok, key=lambda lr: statistics.mean(r["measured_ms"] for r in lr[1]))
            ms = statistics.mean(r["measured_ms"] for r in rs)
            print(
                f"fastest searched encoder at no more than EEM's test MSE: {label}, {eem_ms / ms:.2f}x faster than EEM"
            )
        else:
            print("no searched encoder reaches EEM's test MSE at this budget")
    ave, vc = mean("AVE-M", "extreme"), mean("VC-M", "extreme")
    if ave is not None and vc is not None:
        print(f"extreme subset at target M: AVE {ave:.3f} vs VC {vc:.3f} ({ave / vc - 1:+.1%})")
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
