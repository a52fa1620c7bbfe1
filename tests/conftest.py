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
def tiny_lut(tmp_path_factory):
    """avatar/tiny profiled on `cpu` and built into a table once per test session."""
    root = tmp_path_factory.mktemp("tiny")
    work, lut = root / "work", root / "lut"
    r = run_hwnas(*space_command("profile", workdir=work))
    assert r.returncode == 0, r.stderr
    r = run_hwnas(*space_command("build-lut", workdir=work, lut_dir=lut))
    assert r.returncode == 0, r.stderr
    return {"workdir": work, "lut_dir": lut, "table": lut / "cpu" / "avatar-tiny.csv"}
