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


@pytest.fixture(scope="session")
def tiny_lut(tmp_path_factory):
    """avatar/tiny profiled on `cpu` and built into a table once per test session."""
    root = tmp_path_factory.mktemp("tiny")
    work, lut = root / "work", root / "lut"
    r = run_hwnas("profile", "--device", "cpu", "--space", "avatar", "--preset", "tiny", "--workdir", str(work))
    assert r.returncode == 0, r.stderr
    r = run_hwnas(
        "build-lut",
        "--device",
        "cpu",
        "--space",
        "avatar",
        "--preset",
        "tiny",
        "--workdir",
        str(work),
        "--lut-dir",
        str(lut),
    )
    assert r.returncode == 0, r.stderr
    return {"workdir": work, "table": lut / "cpu" / "avatar-tiny.csv"}
