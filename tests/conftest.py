from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run_hwnas(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 300):
    """Run the real CLI in a subprocess, as a user would."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "hwnas", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def space_command(
    command: str,
    *extra: str,
    device: str = "cpu",
    space: str = "avatar",
    preset: str = "tiny",
    workdir: Path | None = None,
    lut_dir: Path | None = None,
    devices_file: Path | None = None,
) -> list[str]:
    """The argument list of a command on a device and a space preset (avatar/tiny on `cpu` by default)."""
    args = [command, "--device", device, "--space", space, "--preset", preset]
    for option, value in (("--workdir", workdir), ("--lut-dir", lut_dir), ("--devices-file", devices_file)):
        if value is not None:
            args += [option, str(value)]
    return [*args, *extra]


@pytest.fixture
def cli_args():
    return space_command


@pytest.fixture(scope="session")
def tflite_tiny(tmp_path_factory):
    """avatar/tiny converted to .tflite and profiled on `cpu-tflite` once per session (the adb tests reuse the
    converted artifacts)."""
    pytest.importorskip("onnx2tf", reason="needs the tflite extra: pip install '.[tflite]'")
    pytest.importorskip("ai_edge_litert", reason="needs the tflite extra: pip install '.[tflite]'")
    root = tmp_path_factory.mktemp("tflite")
    work, lut = root / "work", root / "lut"
    r = run_hwnas(*space_command("profile", device="cpu-tflite", workdir=work))
    assert r.returncode == 0, r.stderr
    return {"root": root, "workdir": work, "lut_dir": lut, "profile": r}


@pytest.fixture(scope="session")
def tiny_lut(tmp_path_factory):
    """avatar/tiny profiled on `cpu` and built into a table once per test session."""
    root = tmp_path_factory.mktemp("tiny")
    work, lut = root / "work", root / "lut"
    r = run_hwnas(*space_command("profile", workdir=work))
    assert r.returncode == 0, r.stderr
    r = run_hwnas(*space_command("build-lut", workdir=work, lut_dir=lut))
    assert r.returncode == 0, r.stderr
    return {"workdir": work, "lut_dir": lut, "table": lut / "cpu" / "avatar-tiny.csv"}


def median_random_latency(table_path: Path, space: str, preset: str = "tiny") -> str:
    """The median random architecture's predicted latency (ms, as text): a target inside the space's range on
    any machine, where a fixed number of milliseconds may not be."""
    import random

    from hwnas.lut import LatencyTable
    from hwnas.space import get_preset
    from hwnas.space.architecture import Architecture

    table, p = LatencyTable.load(table_path), get_preset(space, preset)
    predictions = sorted(table.predict_ms(Architecture.sample(p, random.Random(i)).op_specs(p)) for i in range(51))
    return f"{predictions[25]:.5f}"


def median_target_with(env: dict[str, str], table_path: Path, space: str, preset: str = "tiny") -> str:
    """``median_random_latency`` in a fresh process with ``env`` (a plugin's space or op types on its path)."""
    script = (
        f"from tests.conftest import median_random_latency as m\nprint(m({str(table_path)!r}, {space!r}, {preset!r}))"
    )
    r = subprocess.run([sys.executable, "-c", script], env={**os.environ, **env}, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


@pytest.fixture(scope="session")
def tiny_target(tiny_lut) -> str:
    return median_random_latency(tiny_lut["table"], "avatar")


@pytest.fixture(scope="session")
def digits_lut(tmp_path_factory):
    """digits/tiny profiled on `cpu` and built into a table once per test session."""
    root = tmp_path_factory.mktemp("digits-tiny")
    dirs = {"workdir": root / "work", "lut_dir": root / "lut"}
    r = run_hwnas(*space_command("profile", space="digits", workdir=dirs["workdir"]))
    assert r.returncode == 0, r.stderr
    r = run_hwnas(*space_command("build-lut", space="digits", **dirs))
    assert r.returncode == 0, r.stderr
    return {**dirs, "table": dirs["lut_dir"] / "cpu" / "digits-tiny.csv"}


@pytest.fixture(scope="session")
def gesture(tmp_path_factory):
    """examples/hwnas-gesture pip-installed into a folder of its own (a task with its own option, a space, an
    op type, a backend), and its space's tiny table built on `cpu`."""
    site, root = tmp_path_factory.mktemp("gesture-site"), tmp_path_factory.mktemp("gesture")
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                        "--target", str(site), str(REPO / "examples" / "hwnas-gesture")],
                       capture_output=True, text=True, timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr
    env = {"PYTHONPATH": f"{REPO}:{site}"}
    dirs = {"space": "gesture", "workdir": root / "w", "lut_dir": root / "lut"}
    for args in (
        space_command("profile", space="gesture", workdir=dirs["workdir"]),
        space_command("build-lut", **dirs),
    ):
        r = run_hwnas(*args, env=env)
        assert r.returncode == 0, r.stderr
    table = root / "lut" / "cpu" / "gesture-tiny.csv"
    target = median_target_with(env, table, "gesture")
    return {"env": env, "site": site, "root": root, "table": table, "target": target, **dirs}


@pytest.fixture(scope="session")
def mnist1d_plugin(tmp_path_factory):
    """examples/hwnas-mnist1d pip-installed into a folder of its own (its `mnist1d` package comes with the test
    extra): a task with a baseline, a space of signals, two 1-D op types."""
    site = tmp_path_factory.mktemp("mnist1d-site")
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                        "--target", str(site), str(REPO / "examples" / "hwnas-mnist1d")],
                       capture_output=True, text=True, timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr
    return {"env": {"PYTHONPATH": f"{REPO}:{site}"}, "site": site}
