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
from hwnas.lut.fidelity import kendall
from hwnas.search.loop import SEARCH_CHECKPOINT, SEARCH_CONFIG, sub_network_scores
from hwnas.search.target import TOLERANCE, LatencyTarget
from hwnas.space import get_preset
from hwnas.space.architecture import Architecture
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
from hwnas.workflows.searches import SearchRequest, load_supernet, run_search, search_task

RESULTS, RANKINGS = "results", "rankings"


@dataclass(frozen=True)
class ComparisonRequest:
    truth: Path  # a ground-truth folder (benchmarks/ground_truth.py)
    quantiles: tuple[float, ...] = (0.25, 0.5, 0.75)  # targets: these quantiles of the sample's predicted latencies
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    methods: tuple[str, ...] = ("differentiable", "random")
    steps: int | None = None  # of every search (random search spends them training its candidates)
    settings: dict[str, Any] = field(default_factory=dict)  # SearchConfig fields, for every method
    out: Path | None = None  # default: <truth>/comparison
    # another comparison folder of the same ground truth whose rows stand in for the methods this one does not run
    # (a variant of the differentiable search paired with the random search already run)
    borrow: Path | None = None
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
    borrowed = _borrowed(request, truth_dir)  # before any search: a wrong folder is named at once
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
    return rows + borrowed


def _borrowed(request: ComparisonRequest, truth_dir: Path) -> list[dict[str, Any]]:
    """The rows of ``request.borrow`` for the methods, targets and seeds this comparison does not run itself."""
    if request.borrow is None:
        return []
    other = Path(request.borrow)
    if not (other / CONFIG).is_file() or Path(read_json(other / CONFIG)["truth"]) != truth_dir.resolve():
        raise HwnasError(f"{other} is no comparison of the ground truth {truth_dir}; name one that is, or drop it")
    rows = [json.loads(p.read_text()) for p in sorted((other / RESULTS).glob("*.json"))]
    return [r for r in rows if r["method"] not in request.methods and r["quantile"] in request.quantiles
            and r["seed"] in request.seeds]  # fmt: skip


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


def supernet_ranking(truth_dir: Path, search_dir: Path) -> dict[str, Any]:
    """How a finished search's supernet orders the ground truth's architectures, against their stand-alone test
    scores: Kendall's tau over all of them, and within each set of input resolutions (what the search must
    order once the resolution is chosen); per resolution set, the supernet's and the stand-alone mean. The
    supernet scores each sub-network on the search's own held-out pool, by what the search chose with."""
    gt = GroundTruthRequest(**read_json(Path(truth_dir) / CONFIG))
    truth = GroundTruth.read(Path(truth_dir) / TABLE)
    config = read_json(Path(search_dir) / SEARCH_CONFIG)
    space = get_preset(gt.space, gt.preset)
    net = load_supernet(Path(search_dir), space)
    task = search_task(space, config["seed"], dict(gt.task_options))
    archs = {k: Architecture.from_json(text) for k, text in truth.architectures.items()}
    scores = sub_network_scores(net, task, list(archs.values()), task.test_pool(), config.get("arch_loss", "selection"))
    supernet = {k: -score for k, score in zip(archs, scores, strict=True)}
    groups: dict[str, list[str]] = {}
    for k, a in archs.items():
        groups.setdefault(",".join(str(a.resolutions[v]) for v in sorted(a.resolutions)), []).append(k)

    def tau(keys: list[str]) -> float | None:
        return kendall([supernet[k] for k in keys], [truth.mean(k) for k in keys]) if len(keys) > 1 else None

    by_resolution = {
        res: {
            "n": len(keys),
            "tau": tau(keys),
            "supernet_mean": statistics.fmean(supernet[k] for k in keys),  # minus the held-out score
            "stand_alone_mean": statistics.fmean(truth.mean(k) for k in keys),
        }
        for res, keys in sorted(groups.items())
    }
    return {"search": str(search_dir), "n": len(archs), "tau": tau(list(archs)), "by_resolution": by_resolution}


def rank_searches(request: ComparisonRequest) -> list[dict[str, Any]]:
    """``supernet_ranking`` of every differentiable search of the comparison whose result is written and whose
    supernet is still there, each kept in a file of its own (``rankings/``) so a later call reads it back."""
    rows = []
    for result in sorted((request.folder / RESULTS).glob("*-differentiable-s*.json")):
        search_dir = request.folder / "searches" / result.stem
        path = request.folder / RANKINGS / result.name
        if not path.is_file():
            if not (search_dir / SEARCH_CHECKPOINT).is_file():
                continue
            write_json(path, {"name": search_dir.name, **supernet_ranking(request.truth, search_dir)})
        rows.append(json.loads(path.read_text()))
    return rows


def ranking_summary(rows: list[dict[str, Any]]) -> list[str]:
    """Kendall's tau over all architectures and within each resolution set, mean ± std over the searches."""
    if not rows:
        return []
    lines = [f"supernet vs stand-alone (Kendall tau over {rows[0]['n']} architectures, {len(rows)} supernets): "
             f"{_mean_std([r['tau'] for r in rows], '+.3f')}"]  # fmt: skip
    for res, first in rows[0]["by_resolution"].items():
        taus = [r["by_resolution"][res]["tau"] for r in rows if r["by_resolution"][res]["tau"] is not None]
        supernet = [r["by_resolution"][res]["supernet_mean"] for r in rows]
        lines.append(f"  resolution {res}: n={first['n']}, tau within {_mean_std(taus, '+.3f')}, supernet score "
                     f"{_mean_std(supernet, '+.4f')}, stand-alone mean {first['stand_alone_mean']:.4f}")  # fmt: skip
    return lines


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
