"""examples/hwnas-gesture, pip-installed as a user would: a task with its own option, a space and an op type, all
from one plugin, through every command and the Python API; its own suite runs hwnas's conformance kits."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from .conftest import REPO, median_target_with, run_hwnas

PLUGIN = REPO / "examples" / "hwnas-gesture"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    site = tmp_path_factory.mktemp("site")
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                        "--target", str(site), str(PLUGIN)], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr
    root = tmp_path_factory.mktemp("gesture")
    return {"env": {"PYTHONPATH": f"{REPO}:{site}"}, "root": root}


def gesture(installed, *args: str):
    return run_hwnas(*args, cwd=installed["root"], env=installed["env"])


def test_its_own_suite_passes_the_kits(installed):
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(PLUGIN / "tests")],
                       env={**os.environ, **installed["env"]}, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert r.returncode == 0 and "3 passed" in r.stdout, r.stdout + r.stderr


def test_every_command_runs_with_the_plugins_task_space_and_op(installed):
    space = ["--space", "gesture", "--preset", "tiny", "--device", "cpu"]
    r = gesture(installed, "spaces", "gesture", "--preset", "tiny")
    assert r.returncode == 0 and "sepconv-k5-s2-cin8-cout16-h24w24" in r.stdout.split(), r.stderr
    assert gesture(installed, "profile", *space, "--no-progress").returncode == 0
    r = gesture(installed, "build-lut", *space)
    assert r.returncode == 0, r.stderr
    assert gesture(installed, "lut", "show", "lut/cpu/gesture-tiny.csv").returncode == 0

    target = median_target_with(installed["env"], installed["root"] / "lut" / "cpu" / "gesture-tiny.csv", "gesture")
    for method in ("differentiable", "random"):
        r = gesture(installed, "search", *space, "--target-ms", target, "--steps", "6", "--no-progress", "--method",
                    method, "--task-option", "camera_noise=0.3", "--out", f"s-{method}")  # fmt: skip
        assert r.returncode == 0, r.stderr
        config = json.loads((installed["root"] / f"s-{method}" / "search-config.json").read_text())
        assert (config["camera_noise"], config["label_smoothing"]) == (0.3, 0.0)

    arch = str(installed["root"] / "s-differentiable" / "arch.json")
    r = gesture(installed, "train", "--arch", arch, "--preset", "tiny", "--steps", "40", "--no-progress",
                "--run-dir", "run", "--task-option", "camera_noise=0.3")  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = gesture(installed, "evaluate", "--run-dir", "run")
    assert r.returncode == 0 and "chance 0.250" in r.stdout, r.stderr
    r = gesture(installed, "export", "--run-dir", "run", "--out", "gesture.onnx")
    assert r.returncode == 0 and (installed["root"] / "gesture.onnx").is_file(), r.stderr


def test_the_python_api_finds_the_plugin(installed):
    script = (
        "from hwnas import api\n"
        "table = api.build_lut('cpu', 'gesture', 'tiny', workdir='api-w', lut_dir='api-lut')\n"
        "print(sorted({k.split('-')[0] for k in table.keys}))\n"
        "task = api.get_preset('gesture', 'tiny').task\n"
        "print(task)\n"
    )
    r = subprocess.run([sys.executable, "-c", script], cwd=installed["root"], capture_output=True, text=True,
                       env={**os.environ, **installed["env"]}, timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "'sepconv'" in r.stdout and "'mbconv'" in r.stdout and r.stdout.strip().endswith("gesture")
