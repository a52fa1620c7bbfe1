"""The ground truth of a space (issue 39) on digits/tiny: a sample spread over the table's latency range,
trainings that resume where they stopped without doubling, a folder bound to its settings, and the criteria
figures computed from the trainings."""

from __future__ import annotations

import csv
import itertools
from dataclasses import replace

import pytest

from hwnas.core.errors import HwnasError
from hwnas.lut import LatencyTable
from hwnas.space import get_preset
from hwnas.workflows.groundtruth import (
    GroundTruth,
    GroundTruthRequest,
    build_ground_truth,
    criteria,
    spread_over_latency,
)
from hwnas.workflows.searchquality import (
    ComparisonRequest,
    compare_searchers,
    paired_sign_flip_p,
    rank_searches,
    ranking_summary,
    summary,
)

DIGITS = get_preset("digits", "tiny")


def test_the_sample_spreads_evenly_over_the_latency_range(digits_lut):
    table = LatencyTable.load(digits_lut["table"])
    archs = spread_over_latency(DIGITS, table, 9, seed=0)
    predicted = [table.predict_ms(a.op_specs(DIGITS)) for a in archs]
    assert len({a.to_json() for a in archs}) == 9
    assert predicted == sorted(predicted)
    gaps = [b - a for a, b in itertools.pairwise(predicted)]
    step = (predicted[-1] - predicted[0]) / 8
    assert max(gaps) < 3 * step, (predicted, step)  # no third of the range left out


def test_trainings_resume_without_doubling_and_the_folder_keeps_its_settings(digits_lut, tmp_path):
    request = GroundTruthRequest("digits", "tiny", n=3, trainings=2, steps=3, out=tmp_path / "gt",
                                 workdir=digits_lut["workdir"], lut_dir=digits_lut["lut_dir"])  # fmt: skip
    path = build_ground_truth(request, progress=False, limit=4)  # a run cut short after 4 of 6 trainings
    with open(path, newline="") as f:
        assert len(list(csv.DictReader(f))) == 4
    done = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "gt" / "trainings").iterdir()}
    build_ground_truth(request, progress=False)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted((r["arch"], r["training"]) for r in rows) == sorted({(r["arch"], r["training"]) for r in rows})
    assert len(rows) == 6 and all(0 <= float(r["test_accuracy"]) <= 1 for r in rows)
    assert all((tmp_path / "gt" / "trainings" / n).stat().st_mtime_ns == t for n, t in done.items())  # not redone
    truth = GroundTruth.read(path)
    assert len(truth.scores) == 3 and all(len(s) == 2 for s in truth.scores.values())
    lines = criteria(truth, bins=1)
    assert lines[0].startswith("3 architectures, 6 trainings") and "spread" in lines[1]
    with pytest.raises(HwnasError, match="other settings"):
        build_ground_truth(GroundTruthRequest(**{**request.__dict__, "steps": 4}), progress=False)


def test_the_noise_is_the_pooled_spread_of_an_architectures_trainings():
    truth = GroundTruth({"a": 1.0, "b": 2.0}, {"a": [0.5, 0.7], "b": [0.8, 0.8, 0.8]}, {"a": "", "b": ""})
    assert truth.noise() == pytest.approx((0.02 / 3) ** 0.5)  # (0.02 + 0) over 1 + 2 degrees of freedom
    assert truth.best_within(1.0, 0.03) == ("a", pytest.approx(0.6))
    assert truth.best_within(2.0, 0.03) == ("b", pytest.approx(0.8))
    assert truth.best_within(0.5, 0.03) is None
    agree = GroundTruth({"a": 1.0, "b": 2.0}, {"a": [0.5, 0.5], "b": [0.8, 0.8]}, {"a": "", "b": ""})
    assert criteria(agree, bins=1)[1].endswith("spread 0.3000 = no noise to compare with (trainings agree)")
    assert criteria(truth, bins=1)[1].endswith(f"spread 0.2000 = {0.2 / truth.noise():.1f}x noise")


def test_searchers_are_scored_against_the_ground_truth_and_resume(digits_lut, tmp_path):
    dirs = {"workdir": digits_lut["workdir"], "lut_dir": digits_lut["lut_dir"]}
    truth = GroundTruthRequest("digits", "tiny", n=3, trainings=1, steps=3, out=tmp_path / "gt", **dirs)
    build_ground_truth(truth, progress=False)
    request = ComparisonRequest(tmp_path / "gt", quantiles=(1.0,), seeds=(0,), steps=4, **dirs)
    rows = compare_searchers(request, progress=False)
    assert [(r["method"], r["seed"]) for r in rows] == [("differentiable", 0), ("random", 0)]
    best = GroundTruth.read(tmp_path / "gt" / "ground_truth.csv").best_within(rows[0]["target_ms"], 0.03)
    for r in rows:  # the slowest of the sample as target: every architecture of it fits
        assert r["best_known_score"] == pytest.approx(best[1]) and r["regret"] == pytest.approx(best[1] - r["score"])
        assert r["trainings"] == 1 and r["measured_ms"] > 0
    written = {p: p.stat().st_mtime_ns for p in (tmp_path / "gt" / "comparison" / "results").iterdir()}
    assert compare_searchers(request, progress=False) == rows  # nothing searched again
    assert all(p.stat().st_mtime_ns == t for p, t in written.items())
    lines = summary(rows)
    assert lines[0].startswith("target q1") and "sign-flip p 1.000" in lines[-1]

    # the differentiable search's supernet ranks the sample; the ranking is kept and read back
    (ranking,) = rank_searches(request)
    assert ranking["n"] == 3 and -1 <= ranking["tau"] <= 1
    assert sum(g["n"] for g in ranking["by_resolution"].values()) == 3
    assert rank_searches(request) == [ranking]
    assert ranking_summary([ranking])[0].startswith("supernet vs stand-alone (Kendall tau over 3 architectures")

    # a variant of the differentiable search, paired with the random rows already run
    variant = replace(request, methods=("differentiable",), settings={"lr_arch": 0.1}, out=tmp_path / "variant",
                      borrow=tmp_path / "gt" / "comparison")  # fmt: skip
    paired = compare_searchers(variant, progress=False)
    assert [(r["method"], r["seed"]) for r in paired] == [("differentiable", 0), ("random", 0)]
    assert paired[1] == rows[1] and not (tmp_path / "variant" / "results" / "q1-random-s0.json").exists()
    with pytest.raises(HwnasError, match="no comparison of the ground truth"):
        compare_searchers(replace(variant, borrow=tmp_path / "variant-elsewhere"), progress=False)


def test_the_sign_flip_p_is_exact():
    assert paired_sign_flip_p([0.1] * 5) == pytest.approx(2 / 32)  # only all-plus and all-minus are as extreme
    assert paired_sign_flip_p([0.1, -0.1]) == 1.0
    with pytest.raises(ValueError):
        paired_sign_flip_p([])
