"""A task's own options (examples/hwnas-gesture's camera_noise, and the label_smoothing every image-classification
task has): set with --task-option, checked in one line, recorded in every run folder they bind, honoured by both
search methods and by training — through the real CLI, with the task installed as a plugin."""

from __future__ import annotations

import json

import pytest

from .conftest import run_hwnas, space_command


def search(gesture, out, *extra: str):
    where = {"space": "gesture", "workdir": gesture["workdir"], "lut_dir": gesture["lut_dir"]}
    args = space_command("search", "--target-ms", gesture["target"], "--steps", "4", "--no-progress", "--out",
                         str(out), *extra, **where)  # fmt: skip
    return run_hwnas(*args, env=gesture["env"])


@pytest.mark.parametrize("method", ["differentiable", "random"])
def test_both_searches_take_the_option_record_it_and_refuse_another_value(gesture, method):
    out = gesture["root"] / f"search-{method}"
    r = search(gesture, out, "--method", method, "--task-option", "camera_noise=0.3")
    assert r.returncode == 0, r.stderr
    config = json.loads((out / "search-config.json").read_text())
    assert (config["camera_noise"], config["label_smoothing"]) == (0.3, 0.0)  # the one given, and the default
    assert json.loads((out / "report.json").read_text())["task"] == {"camera_noise": 0.3, "label_smoothing": 0.0}

    r = search(gesture, out, "--method", method, "--task-option", "camera_noise=0.5")
    assert r.returncode == 2 and "holds a run with other settings (camera_noise)" in r.stderr
    r = search(gesture, out, "--method", method)  # the default (0.6) is another value too
    assert r.returncode == 2 and "(camera_noise)" in r.stderr


@pytest.mark.parametrize(
    ("option", "needle"),
    [
        ("camera_noise=2.5", "camera_noise: Input should be less than or equal to 2, not 2.5"),
        ("camera_noise=high", "camera_noise: Input should be a valid number, not 'high'"),
        ("noise=0.1", "noise: unknown key"),
        ("camera_noise", "--task-option takes KEY=VALUE"),
    ],
)
def test_a_bad_option_is_one_line_naming_the_tasks_options(gesture, tmp_path, option, needle):
    r = search(gesture, tmp_path / "s", "--task-option", option)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert needle in r.stderr
    if "KEY=VALUE" not in needle:
        assert (
            "task 'gesture' takes label_smoothing (float, default 0.0), camera_noise (float, default 0.6)" in r.stderr
        )
    assert not (tmp_path / "s").exists()


def test_training_takes_the_option_and_binds_its_folder(gesture, tmp_path):
    out = gesture["root"] / "search-differentiable"
    if not (out / "arch.json").is_file():
        assert search(gesture, out, "--task-option", "camera_noise=0.3").returncode == 0
    run = tmp_path / "train"
    args = ["train", "--arch", str(out / "arch.json"), "--preset", "tiny", "--steps", "3", "--no-progress",
            "--run-dir", str(run)]  # fmt: skip
    r = run_hwnas(*args, "--task-option", "label_smoothing=0.1", env=gesture["env"])
    assert r.returncode == 0, r.stderr
    assert json.loads((run / "config.json").read_text())["label_smoothing"] == 0.1
    r = run_hwnas(*args, "--task-option", "label_smoothing=0.2", env=gesture["env"])
    assert r.returncode == 2 and "(label_smoothing)" in r.stderr
    r = run_hwnas("evaluate", "--run-dir", str(run), env=gesture["env"])
    assert r.returncode == 0 and "chance 0.250" in r.stdout, r.stderr
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["task"] == {"label_smoothing": 0.1, "camera_noise": 0.6}


def test_a_task_without_options_of_that_name_refuses_them(tmp_path):
    r = run_hwnas("train", "--arch", "eem", "--preset", "tiny", "--steps", "1", "--run-dir", str(tmp_path / "r"),
                  "--task-option", "smoothing=0.1")  # fmt: skip
    assert r.returncode == 2 and "smoothing: unknown key; task 'avatar' takes ee_loss (bool, default True)" in r.stderr
