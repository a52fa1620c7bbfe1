"""Who steers the architecture near the target: the task or the latency term?

Warms a supernet of a space preset up on its task, sets the target 2% above the current expected latency, and
then, on several architecture batches, takes the gradient of the task loss and of the latency loss with
respect to every op and width logit separately. Prints, per op-gradient estimator and latency-loss form, the median of
|task gradient| / |latency gradient| over the logits and the share of logits where the latency term is the
larger one. Where the latency term dominates at the target, Adam's step on the logits is set by latency alone.

    python benchmarks/search_gradients.py --preset small
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from hwnas.search.latency import LatencyModel
from hwnas.search.loop import split_pool
from hwnas.search.supernet import Sampling, Supernet
from hwnas.search.target import LATENCY_LOSSES, latency_loss
from hwnas.space import get_preset
from hwnas.train.trainer import TrainConfig, Trainer, batch_indices
from hwnas.workflows.searches import search_task
from hwnas.workflows.tables import ensure_table, open_device


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="avatar")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--warmup", type=int, default=40, help="weight steps before measuring")
    parser.add_argument("--batches", type=int, default=10, help="architecture batches measured")
    parser.add_argument("--workdir", type=Path, default=Path(".hwnas"))
    parser.add_argument("--lut-dir", type=Path, default=Path("lut"))
    args = parser.parse_args()

    start = time.perf_counter()
    device, backend = open_device(args.device)
    space = get_preset(args.space, args.preset)
    table, _ = ensure_table(device, backend, space, args.workdir, args.lut_dir)
    task = search_task(space, seed=0)
    torch.manual_seed(0)
    net = Supernet(space)
    net.sampling = Sampling(ops="hard")
    latency = LatencyModel(space, table)
    weights = Trainer(net, task, TrainConfig(args.warmup, task.batch_size, schedule="constant"),
                      params=net.weight_parameters())  # fmt: skip
    fit, held, _ = split_pool(task, 0)
    for step in range(args.warmup):
        weights.step(task.batch(batch_indices(fit, step, 0, task.batch_size)), step)
    arch = net.arch_parameters()
    with torch.no_grad():
        target = float(latency.expected(net)) * 1.02
    print(f"{args.space}/{args.preset} on {device.name}: {args.warmup} warm-up steps, target {target:.4f} ms "
          f"(expected latency x 1.02), {args.batches} architecture batches")  # fmt: skip
    print(f"{'op gradients':>12s} {'latency loss':>12s} {'median |task|/|lat|':>20s} {'latency-dominated':>18s}")
    for mode, form in [("hard", "log"), *(("gates", f) for f in LATENCY_LOSSES)]:
        ratios, dominated = [], []
        for b in range(args.batches):
            batch = task.batch(batch_indices(held, b, 1, task.batch_size))
            net.sampling = Sampling(ops=mode)
            g_task = torch.autograd.grad(task.loss(net(batch["views"]), batch, b), arch, allow_unused=True)
            g_lat = torch.autograd.grad(latency_loss(latency.expected(net), target, form), arch, allow_unused=True)
            t = torch.cat(
                [(g if g is not None else torch.zeros_like(p)).flatten() for g, p in zip(g_task, arch, strict=True)]
            )
            lat = torch.cat(
                [(g if g is not None else torch.zeros_like(p)).flatten() for g, p in zip(g_lat, arch, strict=True)]
            )
            keep = (t.abs() + lat.abs()) > 0
            ratios.append((t.abs()[keep] / lat.abs()[keep].clamp_min(1e-12)).median())
            dominated.append((lat.abs()[keep] > t.abs()[keep]).float().mean())
        ratio, share = float(torch.stack(ratios).median()), float(torch.stack(dominated).mean())
        print(f"{mode:>12s} {form:>12s} {ratio:20.3g} {share:17.0%}")
    print(f"wall {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
