"""LiteRT end to end on this machine: ops converted ONNX -> TFLite in worker processes (each checked against
onnxruntime), profiled on the `cpu-tflite` preset, a table built, and a search measured on LiteRT."""

import json
import sqlite3

import pytest

from hwnas.measure.artifacts import ArtifactCache
from hwnas.ops import OpSpec

from .conftest import run_hwnas, space_command

pytest.importorskip("onnx2tf")
pytest.importorskip("ai_edge_litert")


def test_every_tiny_op_converts_and_is_measured_on_litert(tflite_tiny):
    """45 ops, none failed: among them ops whose C = H = W leaves onnx2tf's input layout ambiguous
    (gap-cin4-h4w4, skip-cin4-cout8-h4w4), which the check against onnxruntime must still accept."""
    work = tflite_tiny["workdir"]
    assert "45 ops, 0 already in the store, 45 measured now, 0 failed" in tflite_tiny["profile"].stdout
    tflites = list((work / "artifacts" / "tflite").glob("*.tflite"))
    assert len(tflites) >= 45 and all(p.read_bytes()[4:8] == b"TFL3" for p in tflites)
    with sqlite3.connect(work / "measurements.sqlite") as db:
        (config,) = db.execute("SELECT config_json FROM configs WHERE device = 'cpu-tflite'").fetchone()
    assert json.loads(config)["backend"] == "litert"
    again = run_hwnas(*space_command("profile", device="cpu-tflite", workdir=work))
    assert again.returncode == 0 and "45 already in the store, 0 measured now" in again.stdout
    assert "convert to tflite" not in again.stderr  # nothing left to convert


def test_an_op_that_cannot_be_converted_is_reported_with_its_reason(tmp_path):
    cache = ArtifactCache(tmp_path)
    good, bad = OpSpec("conv", 4, 8, kernel=3, stride=1, h=6, w=6), OpSpec("conv", 4, 8, kernel=3, stride=2, h=6, w=6)
    cache.path(bad, "onnx").parent.mkdir(parents=True)
    cache.path(bad, "onnx").write_bytes(b"not an onnx model")
    failures = cache.prepare([good, bad], "tflite")
    assert set(failures) == {bad.key} and "onnx2tf could not convert" in failures[bad.key]
    assert cache.path(good, "tflite").is_file() and not cache.path(bad, "tflite").exists()


def test_a_search_on_cpu_tflite_is_measured_on_litert(tflite_tiny):
    out = tflite_tiny["root"] / "search"
    args = space_command("search", "--speedup", "3", "--out", str(out), "--no-progress", device="cpu-tflite",
                         workdir=tflite_tiny["workdir"], lut_dir=tflite_tiny["lut_dir"])  # fmt: skip
    r = run_hwnas(*args)
    assert r.returncode == 0, r.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["backend"] == "litert" and report["device"] == "cpu-tflite"
    assert report["reference"]["name"] == "eem" and report["reference"]["measured_ms"] > 0
    assert report["measured"]["measured_ms"] > 0 and report["measured"]["measured_runs"] == 50
    assert list((tflite_tiny["workdir"] / "models").glob("encoder-*.tflite"))
