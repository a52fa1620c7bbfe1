"""LiteRT end to end on this machine: ops converted ONNX -> TFLite in worker processes (each checked against
onnxruntime), profiled on the `cpu-tflite` preset, a table built, and a search measured on LiteRT."""

import json
import re
import sqlite3

import pytest

from hwnas.measure.artifacts import ArtifactCache
from hwnas.measure.devices import get_device
from hwnas.ops import OpSpec

from .conftest import run_hwnas, space_command
from .test_export import arch_with_channel_changing_skips

pytest.importorskip("onnx2tf", reason="needs the tflite extra: pip install '.[tflite]'")
pytest.importorskip("ai_edge_litert", reason="needs the tflite extra: pip install '.[tflite]'")


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

    def search(speedup: float):
        dirs = {"workdir": tflite_tiny["workdir"], "lut_dir": tflite_tiny["lut_dir"]}
        args = space_command("search", "--speedup", f"{speedup:.3g}", "--out", str(out), "--no-progress",
                             device="cpu-tflite", **dirs)  # fmt: skip
        return run_hwnas(*args)

    # how fast EEM measures against the table's range moves with the machine's load (0.035-0.06 ms against
    # 0.001-0.05 ms in two runs): a speed-up outside the range is refused with the range, then one inside runs
    r = search(1.5)
    if r.returncode == 2:
        low, high = map(float, re.search(r"--speedup ([\d.]+) to ([\d.]+)", r.stderr).groups())
        r = search((low * high) ** 0.5)
    assert r.returncode == 0, r.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["backend"] == "litert" and report["device"] == "cpu-tflite"
    assert report["reference"]["name"] == "eem" and report["reference"]["measured_ms"] > 0
    s = get_device("cpu-tflite").profile  # its rounds, each in its network loads
    assert (
        report["measured"]["measured_ms"] > 0
        and report["measured"]["measured_runs"] == s.rounds * s.network_loads * s.runs
    )
    assert list((tflite_tiny["workdir"] / "models").glob("encoder-*.tflite"))


def test_float16_artifacts_are_cached_apart_hold_float16_weights_and_are_measured(tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    from hwnas.core.errors import HwnasError
    from hwnas.measure.backends.litert import LiteRTBackend

    cache, spec = ArtifactCache(tmp_path), OpSpec("conv", 16, 32, kernel=3, stride=1, h=8, w=8)
    assert cache.prepare([spec], "tflite", "float16") == {}
    half, full = cache.path(spec, "tflite", "float16"), cache.get(spec, "tflite")
    assert half != full and half.is_file()
    assert half.stat().st_size < 0.75 * full.stat().st_size  # the 4608 conv weights take 2 bytes, not 4
    interpreter = Interpreter(model_path=str(half))
    assert "float16" in {d["dtype"].__name__ for d in interpreter.get_tensor_details()}
    assert [d["dtype"].__name__ for d in interpreter.get_input_details()] == ["float32"]

    backend = LiteRTBackend({"precision": "float16"})
    assert backend.precision == "float16" and backend.config_id() != LiteRTBackend().config_id()
    assert backend.measure(half, warmup=2, runs=5).n == 5
    with pytest.raises(HwnasError, match="litert option precision must be float32 or float16, not 'int8'"):
        LiteRTBackend({"precision": "int8"})


def test_export_float16_tflite_and_refuse_float16_onnx(tmp_path):
    arch_path = tmp_path / "arch.json"
    arch_with_channel_changing_skips().save(arch_path)
    r = run_hwnas("export", "--arch", str(arch_path), "--format", "onnx", "--precision", "float16")
    assert r.returncode == 2 and "--precision float16 applies to --format tflite only" in r.stderr
    assert not (tmp_path / "arch.onnx").exists()
    r = run_hwnas("export", "--arch", str(arch_path), "--format", "tflite", "--precision", "float16")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "arch.tflite").read_bytes()[4:8] == b"TFL3"
