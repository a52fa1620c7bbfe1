"""examples/hwnas-mnist1d, pip-installed as a user would: MNIST-1D as a task, a space of signals (inputs one
row high) and 1-D op types from a plugin — the public benchmark of the searcher's quality (issue 39)."""

from __future__ import annotations

import os
import subprocess
import sys

from .conftest import REPO, run_hwnas

PLUGIN = REPO / "examples" / "hwnas-mnist1d"


def test_its_own_suite_passes_the_kits(mnist1d_plugin):
    env = {**os.environ, **mnist1d_plugin["env"]}
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(PLUGIN / "tests")],
                       env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert r.returncode == 0 and "3 passed" in r.stdout, r.stdout + r.stderr


def test_the_space_lists_1d_ops_on_one_row(mnist1d_plugin):
    r = run_hwnas("spaces", "mnist1d", "--preset", "tiny", env=mnist1d_plugin["env"])
    assert r.returncode == 0, r.stderr
    keys = r.stdout.split()
    assert "conv1d-k5-s2-cin8-cout16-h1w40" in keys and "sepconv1d-k5-s1-cin16-cout8-h1w20" in keys, r.stdout


def test_the_published_cnn_and_an_architecture_train_on_the_published_split(mnist1d_plugin, tmp_path):
    script = (
        "import json, random\n"
        "from hwnas import api\n"
        "from hwnas.api import Architecture, get_preset\n"
        "run = api.train('mnist1d-cnn', 'tiny', steps=150, run_dir='cnn')\n"
        "m = api.evaluate(run.run_dir)\n"
        "print('cnn', m['test_accuracy'], m['test_frames'])\n"
        "c = json.load(open('cnn/config.json'))\n"
        "print('protocol', c['lr'], c['batch'])\n"
        "preset = get_preset('mnist1d', 'tiny')\n"
        "Architecture.sample(preset, random.Random(0)).save('arch.json')\n"
        "run = api.train('arch.json', 'tiny', steps=150, run_dir='arch', task_options={'train_examples': 1000})\n"
        "m = api.evaluate(run.run_dir)\n"
        "print('arch', m['test_accuracy'], m['test_frames'])\n"
    )
    r = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                       env={**os.environ, **mnist1d_plugin["env"]}, timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr
    scores = {line.split()[0]: line.split()[1:] for line in r.stdout.splitlines()}
    assert scores["protocol"] == ["0.01", "100"], r.stdout  # the task's learning rate and batch, the paper's
    for name in ("cnn", "arch"):  # ten classes: chance is 0.1; the published test split of 1,000 examples
        assert float(scores[name][0]) > 0.3 and scores[name][1] == "1000", r.stdout
