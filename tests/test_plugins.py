"""The plugin path: an out-of-tree package, pip-installed, found through entry points only."""

import subprocess
import sys

import pytest

from hwnas.lut import LatencyTable
from hwnas.space import get_preset

from .conftest import REPO, run_hwnas


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory):
    """pip-install backends/hwnas-onnx-reference into an isolated folder (hwnas itself comes from the repo)."""
    target = tmp_path_factory.mktemp("site")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(REPO / "backends" / "hwnas-onnx-reference"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    return target


def test_installed_plugin_is_listed_and_available(plugin_path):
    r = run_hwnas("backends", env={"PYTHONPATH": f"{REPO}:{plugin_path}"})
    assert r.returncode == 0, r.stderr
    line = next(line for line in r.stdout.splitlines() if line.startswith("onnx-reference"))
    assert "onnx" in line and "hwnas-onnx-reference" in line and "available (onnx " in line
    r = run_hwnas("devices", env={"PYTHONPATH": f"{REPO}:{plugin_path}"})
    assert "cpu-onnx-reference" in r.stdout and "plugin onnx-reference" in r.stdout


def test_plugin_profiles_and_builds_a_table_through_its_preset(plugin_path, tmp_path, cli_args):
    env = {"PYTHONPATH": f"{REPO}:{plugin_path}"}
    device = {"device": "cpu-onnx-reference", "workdir": tmp_path / "w"}
    r = run_hwnas(*cli_args("profile", "--no-progress", **device), env=env)
    assert r.returncode == 0, r.stderr
    r = run_hwnas(*cli_args("build-lut", **device, lut_dir=tmp_path / "lut"), env=env)
    assert r.returncode == 0, r.stderr
    table = LatencyTable.load(tmp_path / "lut" / "cpu-onnx-reference" / "avatar-tiny.csv")
    assert table.keys == {op.key for op in get_preset("avatar", "tiny").enumerate_ops()}
    assert table.metadata["backend"] == "onnx-reference"
    assert set(table.metadata["versions"]) == {"onnx", "numpy"}
    assert (table.frame.n == 5).all()


def test_without_the_plugin_its_preset_is_unknown(tmp_path, cli_args):
    r = run_hwnas(*cli_args("profile", device="cpu-onnx-reference", workdir=tmp_path / "w"))
    assert r.returncode == 2 and "unknown device 'cpu-onnx-reference'" in r.stderr


def test_a_broken_plugin_is_reported_and_the_others_still_work(tmp_path, cli_args):
    """A distribution whose entry points name a module that does not exist."""
    dist = tmp_path / "site" / "broken_backend-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-backend\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[hwnas.backends]\nbroken = no_such_module:Backend\n[hwnas.devices]\nbroken = no_such_module:presets\n"
    )
    env = {"PYTHONPATH": f"{REPO}:{tmp_path / 'site'}"}
    r = run_hwnas("backends", env=env)
    assert r.returncode == 0, r.stderr
    lines = {line.split()[0]: line for line in r.stdout.splitlines()[1:]}
    assert "broken: ModuleNotFoundError" in lines["broken"]
    assert "available" in lines["onnxruntime"]
    r = run_hwnas(*cli_args("profile", "--no-progress", workdir=tmp_path / "w"), env=env)
    assert r.returncode == 0, r.stderr
    assert "presets of plugin 'broken' failed to load" in r.stderr
