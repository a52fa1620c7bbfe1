"""Searchers scored against a space's ground truth (``workflows/groundtruth.py``): at latency targets inside
the sampled range, each searcher with several seeds at equal budget; its result trained stand-alone exactly as
the ground truth's architectures were; its regret the best known score within the target less its own.

One result file per (target, method, seed), written when that search and its trainings end, so a killed run
resumes where it stopped; searches and trainings checkpoint on their own.
"""

from __future__ import annotations

import itertools
import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hwnas.core.errors import HwnasError
from hwnas.core.files import write_json
from hwnas.search.target import TOLERANCE, LatencyTarget
from hwnas.train.rundir import bind_config, read_json
from hwnas.workflows.groundtruth import (
    ARCHS,
    CONFIG,
    SAMPLE,
    TABLE,
    GroundTruth,
    GroundTruthRequest,
    TrainingJob,
    arch_key,
)
from hwnas.workflows.searches import SearchRequest, run_search

RESULTS = "results"


@dataclass(frozen=True)
class ComparisonRequest:
    truth: Path  # a ground-truth folder (benchmarks/ground_truth.py)
    quantiles: tuple[float, ...] = (0.25, 0.5, 0.75)  # targets: these quantiles of the sample's predicted latencies
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    methods: tuple[str, ...] = ("differentiable", "random")
    steps: int | None = None  # of every search (random search spends them training its candidates)
    settings: dict[str, Any] = field(default_factory=dict)  # SearchConfig fields, for every method
    out: Path | None = None  # default: <truth>/comparison
    workdir: Path = Path(".hwnas")
    lut_dir: Path = Path("lut")

    @property
    def folder(self) -> Path:
        return self.out or Path(self.truth) / "comparison"


def targets_ms(truth: Path, quantiles: tuple[float, ...]) -> dict[float, float]:
    """Each quantile of the sampled architectures' predicted latencies, in ms."""
    predicted = sorted(json.loads((Path(truth) / SAMPLE).read_text())["predicted_ms"].values())
    return {q: predicted[round(q * (len(predicted) - 1))] for q in quantiles}


def compare_searchers(request: ComparisonRequest, progress: bool = True) -> list[dict[str, Any]]:
    """Run what the folder lacks; every result row (one per target, method and seed)."""
    truth_dir, out = Path(request.truth), request.folder
    if not (truth_dir / TABLE).is_file():
        raise HwnasError(f"{truth_dir} holds no ground truth ({TABLE}); build it with benchmarks/ground_truth.py")
    gt = GroundTruthRequest(**read_json(truth_dir / CONFIG), out=out)
    record = {"truth": str(truth_dir.resolve()), "steps": request.steps, "settings": request.settings}
    bind_config(out, record, CONFIG)
    truth = GroundTruth.read(truth_dir / TABLE)
    rows = []
    for (q, ms), method, seed in itertools.product(targets_ms(truth_dir, request.quantiles).items(),
                                                   request.methods, request.seeds):  # fmt: skip
        path = out / RESULTS / f"q{q:g}-{method}-s{seed}.json"
        if not path.is_file():
            write_json(path, _one(request, gt, truth, q, ms, method, seed, progress))
        rows.append(json.loads(path.read_text()))
    return rows


def _one(
    request: ComparisonRequest,
    gt: GroundTruthRequest,
    truth: GroundTruth,
    q: float,
    ms: float,
    method: str,
    seed: int,
    progress: bool,
) -> dict[str, Any]:
    out = request.folder
    search = SearchRequest(gt.space, gt.device, LatencyTarget(ms), gt.preset, method, request.steps, seed,
                           dict(gt.task_options), dict(request.settings), lut_dir=request.lut_dir,
                           workdir=request.workdir, progress=progress,
                           out_dir=out / "searches" / f"q{q:g}-{method}-s{seed}")  # fmt: skip
    found = run_search(search)
    key = arch_key(found.architecture)
    if key in truth.scores:  # one of the sample: its trainings are known
        scores = truth.scores[key]
    else:  # trained as the sample was, same steps, same initial-weight seeds
        path = out / ARCHS / f"{key}.json"
        found.architecture.save(path)
        train = TrainingJob(gt, out)
        scores = [float(train((path, t))["test_accuracy"]) for t in range(gt.trainings)]
    best = truth.best_within(ms, TOLERANCE)
    mean = statistics.fmean(scores)
    report = found.report
    return {
        "quantile": q, "target_ms": ms, "method": method, "seed": seed, "arch": key,
        "predicted_ms": report.get("predicted_ms"), "measured_ms": (report.get("measured") or {}).get("measured_ms"),
        "host_factor": (report.get("measured") or {}).get("host_factor"),
        "score": mean, "trainings": len(scores), "in_sample": key in truth.scores,
        "best_known": None if best is None else best[0], "best_known_score": None if best is None else best[1],
        "regret": None if best is None else best[1] - mean,
    }  # fmt: skip


def paired_sign_flip_p(differences: list[float]) -> float:
    """Two-sided p of the mean of paired differences under random sign flips (exact for up to 16 pairs): no
    distribution assumed."""
    if not differences or len(differences) > 16:
        raise ValueError("between 1 and 16 paired differences")
    observed = abs(statistics.fmean(differences))
    flips = list(itertools.product((1, -1), repeat=len(differences)))
    extreme = sum(abs(statistics.fmean(s * d for s, d in zip(signs, differences, strict=True))) >= observed - 1e-12
                  for signs in flips)  # fmt: skip
    return extreme / len(flips)


def summary(rows: list[dict[str, Any]], methods: tuple[str, ...] = ("differentiable", "random")) -> list[str]:
    """Per target: each method's regret (mean ± std over seeds) and the paired difference of the first method
    against the second, with its sign-flip p."""
    lines = []
    for q in sorted({r["quantile"] for r in rows}):
        here = [r for r in rows if r["quantile"] == q and r["regret"] is not None]
        if not here:
            continue
        lines.append(f"target q{q:g} ({here[0]['target_ms']:.4f} ms), best known {here[0]['best_known_score']:.4f}:")
        by = {m: {r["seed"]: r for r in here if r["method"] == m} for m in methods}
        for m, seeds in by.items():
            regrets = [r["regret"] for r in seeds.values()]
            if regrets:
                off = [r["measured_ms"] / r["target_ms"] - 1 for r in seeds.values() if r.get("measured_ms")]
                lines.append(f"  {m:14s} regret {_mean_std(regrets)} (n={len(regrets)}); measured vs target "
                             f"{_mean_std(off, '+.1%')}")  # fmt: skip
        a, b = methods[0], methods[1]
        paired = [by[a][s]["regret"] - by[b][s]["regret"] for s in sorted(by[a].keys() & by[b].keys())]
        if paired:
            lines.append(f"  {a} - {b}: {_mean_std(paired)} over {len(paired)} seeds, sign-flip p "
                         f"{paired_sign_flip_p(paired):.3f}")  # fmt: skip
    return lines


def _mean_std(values: list[float], fmt: str = "+.4f") -> str:
    if not values:
        return "-"
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):{fmt}} ± {std:{fmt.lstrip('+')}}"
