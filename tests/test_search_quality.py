"""Searches with known answers, on digits/tiny (seconds each): where the task decides, where the latency
decides, monotone in the target, and random search keeping its best candidate."""

from __future__ import annotations

import dataclasses
import random

import pytest
import torch

from hwnas.lut import LatencyTable
from hwnas.search.config import SearchConfig
from hwnas.search.extremes import extreme_architecture, latency_range
from hwnas.search.loop import search
from hwnas.search.random_search import random_search
from hwnas.search.target import LatencyTarget
from hwnas.space import get_preset
from hwnas.space.architecture import Architecture
from hwnas.tasks.digits import DigitsTask

DIGITS = get_preset("digits", "tiny")
SEEDS = (0, 1, 2)


class LatencyOnlyTask(DigitsTask):
    """The digits data with a loss that does not care about the architecture: only latency can decide."""

    def loss(self, outputs, batch, step):
        return 0.0 * outputs[self.key].sum()


def config(target: float, seed: int, steps: int = 60) -> SearchConfig:
    return SearchConfig(LatencyTarget(target), steps=steps, warmup=10, batch=32, seed=seed)


@pytest.fixture(scope="module")
def table(digits_lut) -> LatencyTable:
    """Digits/tiny's ops costed by their FLOPs: known answers must not hang on microseconds of timing noise."""
    measured = LatencyTable.load(digits_lut["table"])
    frame = measured.frame.copy()
    frame["median_ms"] = 0.001 + frame["flops"] * 1e-7
    return LatencyTable(frame, {**measured.metadata, "per_inference_overhead_ms": 0.001})


@pytest.fixture(scope="module")
def flat_table(table: LatencyTable) -> LatencyTable:
    """Every candidate of a searchable layer costs the same: latency cannot tell them apart."""
    layer_ops = {
        s.key for size in DIGITS.resolutions["image"] for c in DIGITS.layer_candidates(size) for s in c.specs()
    }
    frame = table.frame.copy()
    frame.loc[sorted(layer_ops), "median_ms"] = float(frame.loc[sorted(layer_ops), "median_ms"].median())
    return LatencyTable(frame, dict(table.metadata))


@pytest.mark.parametrize("seed", SEEDS)
def test_where_latency_cannot_tell_ops_apart_the_task_rejects_skip(flat_table, seed):
    """At equal latency a learned layer beats an identity for classification: no layer may end as a skip."""
    fastest, slowest = latency_range(DIGITS, flat_table)
    result = search(DIGITS, flat_table, DigitsTask(seed, preset="tiny"), config((fastest + slowest) / 2, seed),
                    progress=False)  # fmt: skip
    ops = [c.op for c in result.architecture.branches[0].layers]
    assert "skip" not in ops, ops


@pytest.mark.parametrize("seed", SEEDS)
def test_where_only_latency_matters_the_search_finds_the_fastest_network(table, seed):
    fastest = extreme_architecture(DIGITS, table)
    fastest_ms = table.predict_ms(fastest.op_specs(DIGITS))
    result = search(DIGITS, table, LatencyOnlyTask(seed, preset="tiny"), config(fastest_ms, seed), progress=False)
    assert result.argmax_predicted_ms <= fastest_ms * 1.05  # the distribution itself, before any fitting
    others = [r for r in DIGITS.resolutions["image"] if r != fastest.resolutions["image"]]
    elsewhere = min(  # the fastest network at another resolution
        table.predict_ms(extreme_architecture(dataclasses.replace(DIGITS, resolutions={"image": (r,)}), table)
                         .op_specs(DIGITS)) for r in others)  # fmt: skip
    if elsewhere > fastest_ms * 1.05:  # the resolution matters on this machine's table
        assert result.architecture.resolutions == fastest.resolutions


@pytest.mark.parametrize("seed", SEEDS)
def test_a_tighter_target_never_gives_a_slower_network_or_a_larger_resolution(table, seed):
    fastest, slowest = latency_range(DIGITS, table)
    tight, loose = fastest + 0.2 * (slowest - fastest), fastest + 0.8 * (slowest - fastest)
    a, b = (
        search(DIGITS, table, DigitsTask(seed, preset="tiny"), config(t, seed), progress=False) for t in (tight, loose)
    )
    assert a.predicted_ms <= b.predicted_ms
    assert a.architecture.resolutions["image"] <= b.architecture.resolutions["image"]


def test_random_search_keeps_its_lowest_scoring_candidate(table):
    target = table.predict_ms(Architecture.sample(DIGITS, random.Random(0)).op_specs(DIGITS))  # one is on it
    result = random_search(DIGITS, table, DigitsTask(0, preset="tiny"), config(target, 0, steps=40))
    scores = [h["held_out_loss"] for h in result.history]
    best = min(range(len(scores)), key=scores.__getitem__)
    assert result.predicted_ms == pytest.approx(result.history[best]["predicted_ms"])
    assert torch.tensor(scores).unique().numel() == len(scores)  # distinct candidates, distinct scores


class ContrarianTask(DigitsTask):
    """Trains on the digits loss, but chooses architectures by a selection loss that disagrees with it."""

    def selection_loss(self, outputs, batch, step):
        return 7.0 + 0.0 * outputs[self.key].sum()

    def selection_score(self, outputs, batch):
        return -self.score(outputs, batch)


@pytest.mark.parametrize("arch_loss", ["selection", "training"])
def test_the_architecture_step_descends_the_loss_arch_loss_names(table, arch_loss):
    fastest, slowest = latency_range(DIGITS, table)
    cfg = dataclasses.replace(config((fastest + slowest) / 2, 0, steps=20), arch_loss=arch_loss)
    result = search(DIGITS, table, ContrarianTask(0, preset="tiny"), cfg, progress=False)
    arch_losses = {h["arch_loss"] for h in result.history if "arch_loss" in h}
    assert (arch_losses == {7.0}) == (arch_loss == "selection"), arch_losses


def test_random_search_keeps_the_candidate_lowest_on_the_selection_score(table):
    target = table.predict_ms(Architecture.sample(DIGITS, random.Random(0)).op_specs(DIGITS))
    task = ContrarianTask(0, preset="tiny")
    chosen = {}
    for arch_loss in ("selection", "training"):
        cfg = dataclasses.replace(config(target, 0, steps=40), arch_loss=arch_loss)
        result = random_search(DIGITS, table, task, cfg)
        scores = [h["held_out_loss"] for h in result.history]
        assert result.predicted_ms == pytest.approx(result.history[scores.index(min(scores))]["predicted_ms"])
        chosen[arch_loss] = result.architecture
    assert chosen["selection"] != chosen["training"]  # the negated score keeps the training loss's worst


def test_ranking_scores_architectures_by_what_the_search_compares_them_by():
    """Supernet ranking (benchmarks/supernet_ranking.py, search_pareto's τ) must score as the search chooses."""
    from hwnas.workflows.searches import held_out_score

    task = ContrarianTask(0, preset="tiny")
    net = task.network(Architecture.sample(DIGITS, random.Random(0)), DIGITS).eval()
    by_training = held_out_score(net, task, arch_loss="training")
    assert by_training > 0
    assert held_out_score(net, task, arch_loss="selection") == pytest.approx(-by_training)
