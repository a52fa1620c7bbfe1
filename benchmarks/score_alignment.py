"""Does what a search chooses by order trained networks as their test render MSE does?

For trained avatar runs (the folders `search_pareto.py` and `search_draws.py` train into), each network is scored on
the held-out frames at the search's render size (32 px) by Eq. 4 without the Eq. 3 weight (the training loss's
score) and by each of its terms, the render term being what architectures are chosen by
(`AvatarTask.selection_loss`); the script prints each one's share of Eq. 4 and its correlation with the test
render MSE (at the task's render size) within groups of one seed and one target — the comparisons a search makes:
networks of one latency on one seed's data.

    python benchmarks/score_alignment.py "benchmarks/out/draws-*/seed*/train"
"""

from __future__ import annotations

import argparse
import glob
import math
import re
import statistics
from collections import defaultdict
from pathlib import Path

import torch

from hwnas.apps.avatar.evaluate import model_predictor, render_mse
from hwnas.apps.avatar.losses import AvatarLoss
from hwnas.apps.avatar.network import avatar_outputs
from hwnas.apps.avatar.task import SEARCH_RENDER_SIZE
from hwnas.workflows.runs import load_trained

TERMS = ("latent", "gaze", "geometry", "texture", "keypoints", "render")


def target_of(run_dir: Path) -> str:
    """The target label in a run's path (`AVE-L-seed0`, `draws-random-M-.../seed0-draw1000`), or '?'."""
    found = re.findall(r"-(XS|S|M|L)(?=-|/|$)", str(run_dir))
    return found[-1] if found else "?"


@torch.no_grad()
def scores(run_dir: Path) -> dict[str, float]:
    run, task, net, _ = load_trained(run_dir)
    loss = AvatarLoss(task.data.z.shape[1], min(task.render_size, SEARCH_RENDER_SIZE))
    loss.decoder.load_state_dict(task.loss_fn.decoder.state_dict())
    test = render_mse(model_predictor(net), task.data, "test", task.render_size)["mean"]
    sums: dict[str, float] = defaultdict(float)
    pool = task.test_pool()
    for chunk in pool.split(256):
        batch = task.batch(chunk)
        pred = avatar_outputs(net(batch["views"]))
        total, terms = loss(pred, batch, extreme_weighted=False)
        sums["Eq. 4"] += float(total) * len(chunk)
        for name in TERMS:
            sums[name] += terms[name] * len(chunk) * (10.0 if name == "render" else 1.0)  # as Eq. 4 weighs it
    return {"test": test, "seed": run.seed, **{k: v / len(pool) for k, v in sums.items()}}


def within_group_r(rows: list[dict], key: str) -> float:
    """Pearson's r of log(key) and log(test MSE), each centred within its (seed, target) group."""
    groups = defaultdict(list)
    for r in rows:
        groups[(r["seed"], r["target"])].append(r)
    xs, ys = [], []
    for members in groups.values():
        if len(members) < 2:
            continue
        lx = [math.log(m[key]) for m in members]
        ly = [math.log(m["test"]) for m in members]
        xs += [v - statistics.fmean(lx) for v in lx]
        ys += [v - statistics.fmean(ly) for v in ly]
    return statistics.correlation(xs, ys) if len(xs) > 2 else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="trained run folders, or glob patterns of them (quoted)")
    args = parser.parse_args()
    folders = sorted({Path(p) for pattern in args.runs for p in glob.glob(pattern)})  # a plain path globs to itself
    folders = [f for f in folders if (f / "checkpoint.pt").is_file()]
    if not folders:
        parser.error(f"no trained run folder (one holding checkpoint.pt) matches {' '.join(args.runs)}")
    torch.set_num_threads(1)
    rows = []
    for folder in folders:
        row = {**scores(folder), "target": target_of(folder)}
        rows.append(row)
        print(f"{folder}: test MSE {row['test']:.3f}, Eq. 4 {row['Eq. 4']:.5f}", flush=True)
    groups = {(r["seed"], r["target"]) for r in rows}
    print(f"\n{len(rows)} networks in {len(groups)} groups of one seed and target; test MSE at the task's render size")
    print(f"{'score at 32 px':28s} {'share of Eq. 4':>15s} {'r with test MSE':>16s}")
    for key in ("Eq. 4", *TERMS):
        share = statistics.fmean(r[key] / r["Eq. 4"] for r in rows)
        name = f"{key} (the selection loss)" if key == "render" else key
        print(f"{name:28s} {share:15.0%} {within_group_r(rows, key):+16.2f}")


if __name__ == "__main__":
    main()
