"""The real CLI in subprocesses: profile -> build-lut, kill -9 and resume, whole-model profiling, lut tools."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

import onnx
import pandas as pd

from hwnas.lut import LatencyTable
from hwnas.space import get_preset

from .conftest import REPO, run_hwnas

TINY_KEYS = {op.key for op in get_preset("avatar", "tiny").enumerate_ops()}


def test_table_keys_equal_the_enumerated_op_set(tiny_lut):
    table = LatencyTable.load(tiny_lut["table"])
    assert table.keys == TINY_KEYS
    assert (table.frame.median_ms > 0).all()
    meta = table.metadata
    assert meta["device"] == "cpu" and meta["backend"] == "onnxruntime"
    assert meta["options"]["intra_op_threads"] == 1
    assert meta["versions"]["onnxruntime"]
    assert 0 < meta["per_inference_overhead_ms"] < table.frame.median_ms.max()
    assert meta["drift"]["reference_op"] in TINY_KEYS


def test_rerun_measures_nothing_again(tiny_lut, cli_args):
    r = run_hwnas(*cli_args("profile", "--no-progress", workdir=tiny_lut["workdir"]))
    assert r.returncode == 0, r.stderr
    assert f"{len(TINY_KEYS)} already in the store, 0 measured now" in r.stdout


def _rows(db, device):
    if not db.exists():
        return {}
    with sqlite3.connect(db) as conn:
        try:
            return dict(
                conn.execute("SELECT op_key, measured_at FROM measurements WHERE device = ?", (device,)).fetchall()
            )
        except sqlite3.OperationalError:  # schema not created yet
            return {}


def test_sigkill_mid_run_then_resume_completes_exactly_once(tmp_path, cli_args):
    devices = tmp_path / "devices.toml"
    devices.write_text('[slowcpu]\nbackend = "onnxruntime"\n[slowcpu.profile]\nwarmup = 5\nruns = 2500\n')
    work = tmp_path / "work"
    db = work / "measurements.sqlite"
    args = cli_args("profile", "--no-progress", device="slowcpu", devices_file=devices, workdir=work)
    proc = subprocess.Popen(
        [sys.executable, "-m", "hwnas", *args],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 120
    while len(_rows(db, "slowcpu")) < 5 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = _rows(db, "slowcpu")
    assert proc.returncode == -signal.SIGKILL
    assert 5 <= len(before) < len(TINY_KEYS), "the kill must land mid-run"

    r = run_hwnas(*args)
    assert r.returncode == 0, r.stderr
    assert f"{len(before)} already in the store, {len(TINY_KEYS) - len(before)} measured now" in r.stdout
    after = _rows(db, "slowcpu")
    assert set(after) == TINY_KEYS
    assert {k: after[k] for k in before} == before  # nothing measured twice
    with sqlite3.connect(db) as conn:
        total = conn.execute("SELECT COUNT(*) FROM measurements WHERE device = 'slowcpu'").fetchone()[0]
    assert total == len(TINY_KEYS)

    r = run_hwnas(
        *cli_args("build-lut", device="slowcpu", devices_file=devices, workdir=work, lut_dir=tmp_path / "lut")
    )
    assert r.returncode == 0, r.stderr
    table = LatencyTable.load(tmp_path / "lut" / "slowcpu" / "avatar-tiny.csv")
    assert table.keys == TINY_KEYS and (table.frame.n == 2500).all()


def test_profile_a_whole_model(tmp_path):
    from hwnas.measure.artifacts import export_onnx
    from hwnas.ops import OpSpec

    path = export_onnx(
        OpSpec.parse("fmbconv-k3-e4-s1-cin8-cout8-h24w24").build_module(),
        {"input": (1, 8, 24, 24)},
        tmp_path / "net.onnx",
    )
    onnx.checker.check_model(str(path))
    r = run_hwnas("profile", "--device", "cpu", "--model", str(path))
    assert r.returncode == 0, r.stderr
    assert "median" in r.stdout and "n=50" in r.stdout


def test_lut_show_lookup_and_diff(tiny_lut, tmp_path):
    table = tiny_lut["table"]
    r = run_hwnas("lut", "show", str(table))
    assert r.returncode == 0 and f"{len(TINY_KEYS)} ops" in r.stdout

    key = sorted(TINY_KEYS)[0]
    r = run_hwnas("lut", "lookup", str(table), key)
    assert r.returncode == 0 and r.stdout.startswith(f"{key}: median")

    slower = tmp_path / "slower.csv"
    frame = pd.read_csv(table)
    frame.loc[frame.key == key, ["median_ms", "mean_ms"]] *= 3
    frame.to_csv(slower, index=False)
    slower.with_suffix(".json").write_text(table.with_suffix(".json").read_text())
    r = run_hwnas("lut", "diff", str(table), str(slower), "--top", "1")
    assert r.returncode == 0, r.stderr
    assert f"{len(TINY_KEYS)} shared ops, 0 only in A, 0 only in B" in r.stdout
    assert f"  {key}:" in r.stdout and "(x3.000)" in r.stdout
