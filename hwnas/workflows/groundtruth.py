"""Ground truth of a space: architectures spread over a device table's latency range, each trained stand-alone
several times — a small tabular benchmark of our own that any searcher's result is scored against.

Each training is a job that writes its result file the moment it ends (``trainings/<arch>-t<i>.json``), so a
run that is killed resumes with what is missing, and ``ground_truth.csv`` is rebuilt from those files. The
folder is bound to its settings: resuming with others is refused.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import random
import shutil
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hwnas.core.files import check_writable, write_json, write_text
from hwnas.core.jobs import IN_PROCESS, JobOptions, map_jobs
from hwnas.lut.fidelity import spearman
from hwnas.lut.table import LatencyTable
from hwnas.space import get_preset
from hwnas.space.architecture import Architecture
from hwnas.space.declared import SpacePreset
from hwnas.space.extremes import extreme_architecture
from hwnas.train.rundir import bind_config
from hwnas.workflows.runs import evaluate_run, train_run
from hwnas.workflows.tables import ensure_table, open_device

CONFIG, SAMPLE, TABLE = "config.json", "sample.json", "ground_truth.csv"
TRAININGS, ARCHS = "trainings", "archs"
POOL = 50  # uniform draws per architecture kept, before the spread over latency is taken


@dataclass(frozen=True)
class GroundTruthRequest:
    space: str
    preset: str
    device: str = "cpu"
    n: int = 200  # architectures
    trainings: int = 2  # stand-alone trainings of each (initial weights and batch order from seeds 0 ..)
    steps: int | None = None  # per training; None: the task's default for the preset
    seed: int = 0  # of the sample of architectures
    task_options: dict[str, Any] = field(default_factory=dict)
    out: Path = Path("benchmarks/ground_truth")
    workdir: Path = Path(".hwnas")
    lut_dir: Path = Path("lut")
    devices_file: Path | None = None

    def record(self) -> dict[str, Any]:
        """What binds the folder: everything that changes a result (not where the table lives)."""
        keep = ("space", "preset", "device", "n", "trainings", "steps", "seed", "task_options")
        return {k: v for k, v in asdict(self).items() if k in keep}


def spread_over_latency(preset: SpacePreset, table: LatencyTable, n: int, seed: int) -> list[Architecture]:
    """``n`` distinct architectures at evenly spaced predicted latencies from the space's fastest (in FLOPs) to
    its slowest uniform draw: each the unused draw nearest its latency. Uniform draws crowd the middle of the
    range, where a search's targets rarely are; this sample covers its ends as densely."""
    rng = random.Random(seed)
    pool = {a.to_json(): a for a in [extreme_architecture(preset)] + [Architecture.sample(preset, rng)
                                                                       for _ in range(POOL * n)]}  # fmt: skip
    predicted = sorted((table.predict_ms(a.op_specs(preset)), text) for text, a in pool.items())
    low, high = predicted[0][0], predicted[-1][0]
    picks = []
    for i in range(min(n, len(predicted))):
        want = low + (high - low) * i / max(n - 1, 1)
        picks.append(predicted.pop(min(range(len(predicted)), key=lambda k: abs(predicted[k][0] - want))))
    return [pool[text] for _, text in sorted(picks)]


def arch_key(arch: Architecture) -> str:
    return hashlib.sha256(arch.to_json().encode()).hexdigest()[:10]


@dataclass(frozen=True)
class TrainingJob:
    """One stand-alone training (a job): train, evaluate, write the result file last; a result already written is
    read back, not trained again."""

    request: GroundTruthRequest
    out: Path

    def __call__(self, item: tuple[Path, int]) -> dict[str, Any]:
        arch_path, t = item
        done = self.out / TRAININGS / f"{arch_path.stem}-t{t}.json"
        if done.is_file():
            return json.loads(done.read_text())
        run_dir = self.out / "runs" / f"{arch_path.stem}-t{t}"
        r = self.request
        train_run(str(arch_path), r.preset, r.steps, task_options=r.task_options, run_dir=run_dir,
                  progress=False, init_seed=t)  # fmt: skip
        metrics, _ = evaluate_run(run_dir)
        result = {"arch": arch_path.stem, "training": t, **{k: metrics[k] for k in metrics if _scalar(metrics[k])}}
        write_json(done, result)
        shutil.rmtree(run_dir, ignore_errors=True)  # the result file holds what is kept
        return result


def _scalar(value: Any) -> bool:
    """A figure of the metrics (the encoder's path and the task's settings are the folder's, not the row's)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def build_ground_truth(
    request: GroundTruthRequest,
    jobs: JobOptions = IN_PROCESS,
    progress: bool = True,
    limit: int | None = None,
) -> Path:
    """Train what the folder lacks (at most ``limit`` trainings this call) and rewrite its table; the table's
    path. The sample and the table's predictions are fixed when the folder is first made."""
    out = Path(request.out)
    check_writable(out, "--out")
    jobs.check()
    device, backend = open_device(request.device, request.devices_file)
    preset = get_preset(request.space, request.preset)
    bind_config(out, request.record(), CONFIG)
    if not (out / SAMPLE).is_file():  # the sample, fixed once: its architectures, then their predictions
        table, _ = ensure_table(device, backend, preset, request.workdir, request.lut_dir)
        sample = {}
        for arch in spread_over_latency(preset, table, request.n, request.seed):
            arch.save(out / ARCHS / f"{arch_key(arch)}.json")
            sample[arch_key(arch)] = table.predict_ms(arch.op_specs(preset))
        write_json(out / SAMPLE, {"table": table.metadata.get("built_at"), "predicted_ms": sample})
    keys = sorted(json.loads((out / SAMPLE).read_text())["predicted_ms"])
    todo = [(out / ARCHS / f"{k}.json", t) for k in keys for t in range(request.trainings)
            if not (out / TRAININGS / f"{k}-t{t}.json").is_file()]  # fmt: skip
    todo = todo[:limit] if limit is not None else todo
    map_jobs(TrainingJob(request, out), todo, jobs, desc="trainings", progress=progress)
    return write_table(out, preset)


def write_table(out: Path, preset: SpacePreset) -> Path:
    """``ground_truth.csv`` from the result files: one row per training, with its architecture's prediction."""
    predicted = json.loads((out / SAMPLE).read_text())["predicted_ms"]
    rows = []
    for path in sorted((out / TRAININGS).glob("*.json")):
        result = json.loads(path.read_text())
        arch = Architecture.load(out / ARCHS / f"{result['arch']}.json")
        rows.append({**result, "predicted_ms": predicted[result["arch"]], "mflops": arch.flops(preset) / 1e6,
                     "architecture": arch.to_json()})  # fmt: skip
    columns = ["arch", "training", "predicted_ms", "mflops", "test_accuracy", "train_accuracy", "params"]
    figures = {k for r in rows for k, v in r.items() if _scalar(v)}
    columns += [*sorted(figures - set(columns)), "architecture"]
    text = io.StringIO()
    writer = csv.DictWriter(text, columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(out / TABLE, text.getvalue())
    return out / TABLE


@dataclass(frozen=True)
class GroundTruth:
    """The table read back: per architecture its prediction and its trainings' scores."""

    predicted_ms: dict[str, float]
    scores: dict[str, list[float]]
    architectures: dict[str, str]

    @classmethod
    def read(cls, path: Path, metric: str = "test_accuracy") -> GroundTruth:
        predicted, scores, archs = {}, {}, {}
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                predicted[row["arch"]] = float(row["predicted_ms"])
                scores.setdefault(row["arch"], []).append(float(row[metric]))
                archs[row["arch"]] = row["architecture"]
        return cls(predicted, scores, archs)

    def mean(self, key: str) -> float:
        return statistics.fmean(self.scores[key])

    def noise(self) -> float:
        """One training's noise: the pooled standard deviation of an architecture's trainings."""
        groups = [s for s in self.scores.values() if len(s) >= 2]
        dof = sum(len(s) - 1 for s in groups)
        return math.sqrt(sum(statistics.variance(s) * (len(s) - 1) for s in groups) / dof) if dof else math.nan

    def best_within(self, target_ms: float, tolerance: float) -> tuple[str, float] | None:
        """The best known architecture (mean score) predicted within ``target * (1 + tolerance)``."""
        fits = [k for k, ms in self.predicted_ms.items() if ms <= target_ms * (1 + tolerance)]
        return max(((k, self.mean(k)) for k in fits), key=lambda kv: kv[1], default=None)


def criteria(truth: GroundTruth, bins: int = 8) -> list[str]:
    """Is the benchmark one where architectures matter? One training's noise; per latency bin (equal counts)
    the spread of the architectures' mean scores (max - min) in units of that noise; the trend of score with
    latency (Spearman over all architectures)."""
    noise = truth.noise()
    keys = sorted(truth.predicted_ms, key=truth.predicted_ms.__getitem__)
    means = [truth.mean(k) for k in keys]
    trend = spearman([truth.predicted_ms[k] for k in keys], means)
    lines = [
        f"{len(keys)} architectures, {sum(len(s) for s in truth.scores.values())} trainings; one training's noise "
        f"(pooled std) {noise:.4f}; Spearman(latency, score) {trend:+.3f}"
    ]
    for b in range(bins):
        part = keys[b * len(keys) // bins : (b + 1) * len(keys) // bins]
        if len(part) < 2:
            continue
        scores = [truth.mean(k) for k in part]
        spread = max(scores) - min(scores)
        ratio = f"{spread / noise:.1f}x noise" if noise > 0 else "no noise to compare with (trainings agree)"
        lines.append(
            f"  {truth.predicted_ms[part[0]]:.4f}-{truth.predicted_ms[part[-1]]:.4f} ms: n={len(part)} score "
            f"{min(scores):.4f}..{max(scores):.4f} (mean {statistics.fmean(scores):.4f}), spread {spread:.4f} = {ratio}"
        )
    return lines
