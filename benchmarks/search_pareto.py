"""Searched encoders against the hand-designed baselines: our version of the paper's Tables 1 and 2.

Trains and evaluates EEM / EEM-ch50 / EEM-res50, searches at three latency targets (AVE-S/M/L, by default
1/4, 1/2 and 1x EEM's measured latency), trains each result from scratch, and adds at the middle target the
VC-NAS ablation (no extreme-expression loss in search and training) and random search at equal budget.
Every encoder is measured end to end on the device. Prints the table (measured latency, MFLOPs, render MSE
per view and on the extreme subset), how many times faster than EEM the fastest searched encoder at equal or
lower render MSE is, and AVE vs VC on the extreme subset; writes results.json and a Pareto PNG.

Each finished row is kept in <out>/results.json and every search and training resumes, so a killed run
continues where it stopped.

    python benchmarks/search_pareto.py --preset small
    python benchmarks/search_pareto.py --preset tiny --search-steps 30 --train-steps 30   # a smoke run
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hwnas.core.plots import pareto
from hwnas.deploy.endtoend import measure_encoder
from hwnas.space import get_preset
from hwnas.tasks.avatar.data import task_preset
from hwnas.workflows.runs import evaluate_run, load_trained, train_run
from hwnas.workflows.searches import SearchRequest, run_search
from hwnas.workflows.tables import ensure_table, open_device

BASELINES = ("eem", "eem-ch50", "eem-res50")
TARGET_SHARES = {"AVE-S": 0.25, "AVE-M": 0.5, "AVE-L": 1.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--targets", default=None, help="three comma-separated targets in ms (default: from EEM)")
    parser.add_argument("--search-steps", type=int, default=None, help="default: the preset's")
    parser.add_argument("--train-steps", type=int, default=None, help="default: the preset's")
    parser.add_argument("--workdir", type=Path, default=Path(".hwnas"))
    parser.add_argument("--lut-dir", type=Path, default=Path("lut"))
    parser.add_argument("--out", type=Path, default=None, help="default: benchmarks/out/pareto-<device>-<preset>")
    args = parser.parse_args()

    out = args.out or Path("benchmarks/out") / f"pareto-{args.device}-{args.preset}"
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.json"
    rows: dict[str, dict] = json.loads(results_path.read_text()) if results_path.exists() else {}

    def keep(name: str, row: dict) -> None:
        rows[name] = row
        results_path.write_text(json.dumps(rows, indent=2))
        print(f"  {name}: {row['measured_ms']:.3f} ms, test MSE {row['test']['mean']:.2f}, "
              f"extreme {row['extreme']['mean']:.2f}", flush=True)  # fmt: skip

    device, backend = open_device(args.device)
    ensure_table(device, backend, get_preset("avatar", args.preset), args.workdir, args.lut_dir)
    train_steps = args.train_steps or task_preset(args.preset).steps

    def train_and_evaluate(name: str, encoder: str, ee_loss: bool = True) -> dict:
        run_dir, result = train_run(encoder, args.preset, train_steps, ee_loss=ee_loss, run_dir=out / "train" / name)
        return {**evaluate_run(run_dir)[0], "train_wall_s": result["wall_s"]}

    for name in BASELINES:
        if name not in rows:
            print(f"{name}: train, evaluate, measure", flush=True)
            metrics = train_and_evaluate(name, name)
            measured = measure_encoder(load_trained(out / "train" / name)[2], device, backend, args.workdir)
            keep(name, {**metrics, "measured_ms": measured.median_ms, "kind": "baseline"})

    eem_ms = rows["eem"]["measured_ms"]
    if args.targets:
        targets = dict(zip(TARGET_SHARES, (float(t) for t in args.targets.split(",")), strict=True))
    else:
        targets = {label: share * eem_ms for label, share in TARGET_SHARES.items()}

    def searched(name: str, target: float, ee_loss: bool = True, method: str = "differentiable") -> None:
        if name in rows:
            return
        print(f"{name}: {method} search at {target:.3f} ms, train, evaluate, measure", flush=True)
        outcome = run_search(
            SearchRequest(
                "avatar", args.device, target, args.preset, method, args.search_steps, ee_loss=ee_loss,
                out_dir=out / "search" / name, lut_dir=args.lut_dir, workdir=args.workdir,
            )
        )  # fmt: skip
        metrics = train_and_evaluate(name, str(outcome.arch_path.resolve()), ee_loss)
        r = outcome.report
        kind = "vc" if not ee_loss else method
        keep(name, {**metrics, **r["measured"], "target_ms": target, "search_wall_s": r["wall_s"], "kind": kind})

    for label, target in targets.items():
        searched(label, target)
    searched("VC-M", targets["AVE-M"], ee_loss=False)
    searched("random-M", targets["AVE-M"], method="random")

    report(rows, out, device.name, args.preset)


def report(rows: dict[str, dict], out: Path, device: str, preset: str) -> None:
    print(f"\navatar/{preset} on {device}: render MSE on the 0-255 scale")
    head = f"{'encoder':10s} {'target':>7s} {'measured':>9s} {'MFLOPs':>8s} {'front':>7s} {'left':>7s} {'right':>7s}"
    print(f"{head} {'mean':>7s} {'extreme':>8s}")
    for name, r in rows.items():
        target = f"{r['target_ms']:.3f}" if "target_ms" in r else "-"
        t, e = r["test"], r["extreme"]
        print(
            f"{name:10s} {target:>7s} {r['measured_ms']:9.3f} {r['mflops']:8.2f} {t['front']:7.2f} {t['left']:7.2f} "
            f"{t['right']:7.2f} {t['mean']:7.2f} {e['mean']:8.2f}"
        )
    eem = rows["eem"]
    better = [r for r in rows.values() if r["kind"] == "differentiable" and r["test"]["mean"] <= eem["test"]["mean"]]
    if better:
        fastest = min(better, key=lambda r: r["measured_ms"])
        speedup = eem["measured_ms"] / fastest["measured_ms"]
        print(
            f"fastest searched encoder at equal or lower test MSE than EEM: {speedup:.2f}x faster "
            f"({fastest['measured_ms']:.3f} vs {eem['measured_ms']:.3f} ms)"
        )
    else:
        print("no searched encoder reaches EEM's test MSE at this budget")
    if "VC-M" in rows and "AVE-M" in rows:
        ave, vc = rows["AVE-M"]["extreme"]["mean"], rows["VC-M"]["extreme"]["mean"]
        print(f"extreme subset at the AVE-M target: AVE {ave:.2f} vs VC {vc:.2f} ({ave / vc - 1:+.1%})")
    png = pareto([(n, r["measured_ms"], r["test"]["mean"]) for n, r in rows.items()], out / "pareto.png", "test MSE")
    print(f"wrote {out / 'results.json'} and {png}")


if __name__ == "__main__":
    main()
