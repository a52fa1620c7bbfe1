"""examples/hwnas-gesture, pip-installed as a user would: a task, a space and an op type from one plugin, through
the commands not covered by tests/test_task_options.py and the Python API; its own suite runs hwnas's kits."""

from __future__ import annotations

import os
import subprocess
import sys

from .conftest import REPO, run_hwnas

PLUGIN = REPO / "examples" / "hwnas-gesture"


def test_its_own_suite_passes_the_kits(gesture):
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(PLUGIN / "tests")],
                       env={**os.environ, **gesture["env"]}, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert r.returncode == 0 and "4 passed" in r.stdout, r.stdout + r.stderr


def test_the_spaces_ops_and_table_in_fresh_processes(gesture):
    env, table = gesture["env"], str(gesture["table"])
    r = run_hwnas("spaces", "gesture", "--preset", "tiny", env=env)
    assert r.returncode == 0 and "sepconv-k5-s2-cin8-cout16-h24w24" in r.stdout.split(), r.stderr
    r = run_hwnas("lut", "show", table, env=env)
    assert r.returncode == 0, r.stderr
    r = run_hwnas("lut", "lookup", table, "sepconv-k5-s2-cin8-cout16-h24w24", env=env)
    assert r.returncode == 0 and "sepconv-k5-s2-cin8-cout16-h24w24" in r.stdout, r.stderr
    r = run_hwnas("lut", "show", table)  # without the plugin its op type is unknown, and said so
    assert r.returncode == 2 and "unknown op type 'sepconv'" in r.stderr


def test_export_and_the_python_api(gesture, tmp_path):
    script = (
        "from hwnas import api\n"
        f"found = api.search('gesture', 'cpu', target_ms={gesture['target']}, preset='tiny', steps=4, out='s',\n"
        f"                   lut_dir={str(gesture['lut_dir'])!r}, workdir={str(gesture['workdir'])!r},\n"
        "                   task_options={'camera_noise': 0.3})\n"
        "run = api.train(found.arch_path, 'tiny', steps=20, run_dir='run', task_options={'camera_noise': 0.3})\n"
        "print('accuracy', api.evaluate(run.run_dir)['test_accuracy'])\n"
        "print('exported', api.export(run_dir=run.run_dir, out='gesture.onnx').paths[0])\n"
    )
    r = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                       env={**os.environ, **gesture["env"]}, timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "exported gesture.onnx" in r.stdout and (tmp_path / "gesture.onnx").is_file()
    r = run_hwnas("profile", "--device", "cpu", "--model", str(tmp_path / "gesture.onnx"), env=gesture["env"])
    assert r.returncode == 0 and "median" in r.stdout, r.stderr
