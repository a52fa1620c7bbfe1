"""The second search space: an FBNet-style classifier on scikit-learn's digits, searched by the same code."""

from __future__ import annotations

import json
import random

import pytest
import torch

from hwnas.lut import LatencyTable
from hwnas.space import ENTRY_POINT_GROUP, get_preset
from hwnas.space.architecture import Architecture
from hwnas.space.network import ArchitectureNetwork
from hwnas.tasks.digits import DigitsTask, load_digits_tensors
from hwnas.train.trainer import TrainConfig, fit

from .conftest import run_hwnas, space_command

DIGITS = get_preset("digits", "tiny")


def test_digits_space_is_found_through_the_entry_point_and_has_no_regressor():
    from importlib import metadata

    assert {"avatar", "digits"} <= {ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
    assert DIGITS.task == "digits" and DIGITS.regressor is None and DIGITS.merge_ops() == []
    assert list(DIGITS.views) == ["image"] and DIGITS.outputs == {"logits": 10}
    r = run_hwnas("spaces")
    assert r.returncode == 0 and "digits" in r.stdout


def test_digits_data_is_split_by_seed_and_normalised():
    images, labels, test = load_digits_tensors(seed=0)
    assert images.shape == (1797, 1, 32, 32) and set(labels.tolist()) == set(range(10))
    assert abs(float(images.mean())) < 1e-4 and abs(float(images.std()) - 1) < 1e-4
    assert int(test.sum()) == 359
    assert torch.equal(test, load_digits_tensors(seed=0)[2]) and not torch.equal(test, load_digits_tensors(seed=1)[2])


def test_a_derived_classifier_learns_the_digits():
    torch.manual_seed(0)
    task = DigitsTask(seed=0)
    net = ArchitectureNetwork(Architecture.sample(DIGITS, random.Random(0)), DIGITS)
    fit(net, task, TrainConfig(steps=300, batch=64, lr=1e-2, schedule="constant"), progress=False)
    assert task.accuracy(net, task.test_pool()) > 0.75  # chance is 0.1


@pytest.fixture(scope="module")
def digits_search(tmp_path_factory):
    root = tmp_path_factory.mktemp("digits")
    out = root / "search"
    where = {"space": "digits", "workdir": root / "work", "lut_dir": root / "lut"}
    r = run_hwnas(*space_command("search", "--speedup", "2", "--steps", "40", "--out", str(out), **where))
    assert r.returncode == 0, r.stderr
    return {"out": out, "table": root / "lut" / "cpu" / "digits-tiny.csv", "stdout": r.stdout}


def test_search_of_the_classifier_space_builds_its_table_and_reports(digits_search):
    table = LatencyTable.load(digits_search["table"])
    assert table.keys == {s.key for s in DIGITS.enumerate_ops()}
    arch = Architecture.load(digits_search["out"] / "arch.json")
    arch.validate(DIGITS)
    report = json.loads((digits_search["out"] / "report.json").read_text())
    assert report["predicted_ms"] == pytest.approx(table.predict_ms(arch.op_specs(DIGITS)))
    assert report["measured"]["measured_ms"] > 0
    assert list(report["branches"]) == ["image.logits"]
    assert "measured end to end" in digits_search["stdout"]


def test_a_searched_classifier_exports_with_its_branch_outputs(digits_search):
    import onnxruntime as ort

    r = run_hwnas("export", "--arch", str(digits_search["out"] / "arch.json"))
    assert r.returncode == 0, r.stderr
    sess = ort.InferenceSession(str(digits_search["out"] / "arch.onnx"), providers=["CPUExecutionProvider"])
    arch = Architecture.load(digits_search["out"] / "arch.json")
    res = arch.resolutions["image"]
    assert [(i.name, i.shape) for i in sess.get_inputs()] == [("image", [1, 1, res, res])]
    assert [(o.name, o.shape) for o in sess.get_outputs()] == [("image.logits", [1, 10])]


def test_the_printed_next_step_trains_and_evaluates_a_searched_classifier(digits_search, tmp_path):
    """The hint after a digits search is `hwnas train --arch .../arch.json --preset tiny`: it must train (it
    crashed with KeyError 'regressed' and left a config.json behind), and evaluate must score it."""
    hint = digits_search["stdout"].strip().splitlines()[-1].split("train it with: ")[1].split()
    assert hint[:2] == ["hwnas", "train"]
    run = tmp_path / "run"
    r = run_hwnas(*hint[1:], "--steps", "40", "--run-dir", str(run), "--no-progress")
    assert r.returncode == 0, r.stderr
    r = run_hwnas("evaluate", "--run-dir", str(run))
    assert r.returncode == 0, r.stderr
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["steps"] == 40 and 0.0 <= metrics["test_accuracy"] <= 1.0
    assert "test accuracy" in r.stdout
    r = run_hwnas("export", "--run-dir", str(run))
    assert r.returncode == 0, r.stderr
    assert (run / "encoder.onnx").is_file()
