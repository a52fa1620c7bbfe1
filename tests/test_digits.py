"""The second search space: an FBNet-style classifier on scikit-learn's digits, searched by the same code."""

from __future__ import annotations

import json
import random

import pytest
import torch

from hwnas.architecture import Architecture
from hwnas.digits import DigitsTask, load_digits_tensors
from hwnas.lut import LatencyTable
from hwnas.network import ArchitectureNetwork
from hwnas.searchspaces import ENTRY_POINT_GROUP, get_preset

from .conftest import run_hwnas

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
    arch = Architecture.sample(DIGITS, random.Random(0))
    net = ArchitectureNetwork(arch, DIGITS)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-2)
    pool = task.train_pool()
    g = torch.Generator().manual_seed(0)
    for step in range(300):
        batch = task.batch(pool[torch.randint(len(pool), (64,), generator=g)])
        loss = task.loss(net(batch["views"]), batch, step)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert task.accuracy(net, task.test_pool()) > 0.75  # chance is 0.1


@pytest.fixture(scope="module")
def digits_search(tmp_path_factory):
    root = tmp_path_factory.mktemp("digits")
    out = root / "search"
    r = run_hwnas(
        "search", "--space", "digits", "--device", "cpu", "--preset", "tiny", "--target-ms", "0.05",
        "--steps", "40", "--workdir", str(root / "work"), "--lut-dir", str(root / "lut"), "--out", str(out),
        "--no-progress",
    )  # fmt: skip
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
