"""A task that declares an option of its own (a plugin's label smoothing): set with --task-option, checked, recorded
in every run folder it binds, honoured by both search methods and by training — through the real CLI, with the
task and its space installed as a plugin ships them (entry points)."""

from __future__ import annotations

import json

import pytest

from .conftest import REPO, median_random_latency, run_hwnas
from .test_plugins import make_plugin

TASK = """
    from dataclasses import dataclass
    from pathlib import Path
    from typing import Annotated

    import torch.nn.functional as F
    from pydantic import Field

    from hwnas.space.declared import DeclaredSpace
    from hwnas.tasks.digits import DigitsTask


    def space():
        return DeclaredSpace.from_file(Path(__file__).with_name("smooth.toml"))


    @dataclass(frozen=True)
    class Options:
        label_smoothing: Annotated[float, Field(ge=0, lt=1)] = 0.0


    class SmoothDigits(DigitsTask):
        name = "smooth-digits"
        Options = Options

        @classmethod
        def create(cls, request):
            task = super().create(request)
            task.smoothing = cls.read_options(request).label_smoothing
            return task

        def loss(self, outputs, batch, step):
            return F.cross_entropy(outputs[self.key], batch["labels"], label_smoothing=self.smoothing)
"""


@pytest.fixture(scope="module")
def plugin(tmp_path_factory):
    root = tmp_path_factory.mktemp("options")
    entry_points = """
        [hwnas.tasks]
        smooth-digits = smooth_digits:SmoothDigits
        [hwnas.searchspaces]
        smooth = smooth_digits:space
    """
    env = make_plugin(root / "site", "smooth_digits", TASK, entry_points)
    declared = (REPO / "searchspaces" / "digits.toml").read_text()
    declared = declared.replace('task = "digits"', 'task = "smooth-digits"').replace(
        'name = "digits"', 'name = "smooth"'
    )
    (root / "site" / "smooth.toml").write_text(declared)
    for command, lut in (("profile", []), ("build-lut", ["--lut-dir", str(root / "lut")])):
        args = [command, "--device", "cpu", "--space", "smooth", "--preset", "tiny", "--workdir", str(root / "w")]
        r = run_hwnas(*args, *lut, env=env)
        assert r.returncode == 0, r.stderr
    # a target inside the range on any machine; smooth/tiny declares the ops of digits/tiny
    target = median_random_latency(root / "lut" / "cpu" / "smooth-tiny.csv", "digits")
    return {"root": root, "env": env, "space": "smooth", "target": target}


def search(plugin, out, *extra: str):
    root = plugin["root"]
    args = ["search", "--device", "cpu", "--space", plugin["space"], "--preset", "tiny", "--target-ms",
            plugin["target"], "--steps", "4", "--no-progress", "--out", str(out), "--workdir", str(root / "w"),
            "--lut-dir", str(root / "lut"), *extra]  # fmt: skip
    return run_hwnas(*args, env=plugin["env"])


@pytest.mark.parametrize("method", ["differentiable", "random"])
def test_both_searches_take_the_option_record_it_and_refuse_another_value(plugin, method):
    out = plugin["root"] / f"search-{method}"
    r = search(plugin, out, "--method", method, "--task-option", "label_smoothing=0.1")
    assert r.returncode == 0, r.stderr
    assert json.loads((out / "search-config.json").read_text())["label_smoothing"] == 0.1
    assert json.loads((out / "report.json").read_text())["task"] == {"label_smoothing": 0.1}

    r = search(plugin, out, "--method", method, "--task-option", "label_smoothing=0.2")
    assert r.returncode == 2 and "holds a run with other settings (label_smoothing)" in r.stderr
    r = search(plugin, out, "--method", method)  # the default (0.0) is another value too
    assert r.returncode == 2 and "(label_smoothing)" in r.stderr


@pytest.mark.parametrize(
    ("option", "needle"),
    [
        ("label_smoothing=1.5", "label_smoothing: Input should be less than 1, not 1.5"),
        ("label_smoothing=high", "label_smoothing: Input should be a valid number, not 'high'"),
        ("smoothing=0.1", "smoothing: unknown key"),
        ("label_smoothing", "--task-option takes KEY=VALUE"),
    ],
)
def test_a_bad_option_is_one_line_naming_the_tasks_options(plugin, tmp_path, option, needle):
    r = search(plugin, tmp_path / "s", "--task-option", option)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert needle in r.stderr
    if "KEY=VALUE" not in needle:
        assert "task 'smooth-digits' takes label_smoothing (float, default 0.0)" in r.stderr
    assert not (tmp_path / "s").exists()


def test_training_takes_the_option_and_binds_its_folder(plugin, tmp_path):
    out = plugin["root"] / "search-differentiable"
    if not (out / "arch.json").is_file():
        assert search(plugin, out, "--task-option", "label_smoothing=0.1").returncode == 0
    run = tmp_path / "train"
    args = ["train", "--arch", str(out / "arch.json"), "--preset", "tiny", "--steps", "3", "--no-progress",
            "--run-dir", str(run)]  # fmt: skip
    r = run_hwnas(*args, "--task-option", "label_smoothing=0.3", env=plugin["env"])
    assert r.returncode == 0, r.stderr
    assert json.loads((run / "config.json").read_text())["label_smoothing"] == 0.3
    r = run_hwnas(*args, "--task-option", "label_smoothing=0.5", env=plugin["env"])
    assert r.returncode == 2 and "(label_smoothing)" in r.stderr
    r = run_hwnas("evaluate", "--run-dir", str(run), env=plugin["env"])
    assert r.returncode == 0 and "test accuracy" in r.stdout, r.stderr
    assert json.loads((run / "metrics.json").read_text())["task"] == {"label_smoothing": 0.3}


def test_a_task_without_options_refuses_any(tmp_path):
    r = run_hwnas("train", "--arch", "eem", "--preset", "tiny", "--steps", "1", "--run-dir", str(tmp_path / "r"),
                  "--task-option", "smoothing=0.1")  # fmt: skip
    assert r.returncode == 2 and "smoothing: unknown key; task 'avatar' takes ee_loss (bool, default True)" in r.stderr
