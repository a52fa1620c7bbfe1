"""Export of derived encoders (ONNX, TFLite) and their end-to-end latency beside the table's prediction."""

from __future__ import annotations

import random

import numpy as np
import onnxruntime as ort
import pytest
import torch

from hwnas.apps.avatar.network import VIEW_ORDER, AvatarNetwork
from hwnas.core.errors import HwnasError
from hwnas.deploy.endtoend import check_architecture
from hwnas.deploy.export import export_encoder
from hwnas.lut.table import LatencyTable
from hwnas.space import get_preset
from hwnas.space.architecture import Architecture

from .conftest import run_hwnas

TINY = get_preset("avatar", "tiny")


def arch_with_channel_changing_skips() -> Architecture:
    """A sampled tiny architecture that truncates and zero-pads channels in skip layers."""
    for seed in range(200):
        arch = Architecture.sample(TINY, random.Random(seed))
        skips = [s for s in arch.op_specs(TINY) if s.op == "skip"]
        if any(s.cin > s.cout for s in skips) and any(s.cin < s.cout for s in skips):
            return arch
    raise AssertionError("no such architecture among 200 samples")


def test_onnx_export_computes_what_the_network_computes(tmp_path):
    arch = arch_with_channel_changing_skips()
    torch.manual_seed(0)
    net = AvatarNetwork(arch, TINY, 24).eval()
    path = export_encoder(net, tmp_path / "enc.onnx")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    shapes = {i.name: tuple(i.shape) for i in sess.get_inputs()}
    assert shapes == {v: (1, 1, arch.resolutions[v], arch.resolutions[v]) for v in VIEW_ORDER}
    assert [o.name for o in sess.get_outputs()] == ["z", "g", "y"]
    feeds = {v: np.random.default_rng(1).standard_normal(s).astype(np.float32) for v, s in shapes.items()}
    got = sess.run(None, feeds)
    with torch.no_grad():
        want = net.encode({v: torch.from_numpy(x) for v, x in feeds.items()})
    for name, value in zip(("z", "g", "y"), got, strict=True):
        np.testing.assert_allclose(value, want[name].numpy(), rtol=1e-4, atol=1e-5)


def test_export_refuses_a_bad_format_or_suffix(tmp_path):
    net = AvatarNetwork(Architecture.sample(TINY, random.Random(0)), TINY, 24)
    with pytest.raises(HwnasError, match=r"must end in \.onnx"):
        export_encoder(net, tmp_path / "enc.tflite", "onnx")
    with pytest.raises(HwnasError, match="unknown export format"):
        export_encoder(net, tmp_path / "enc.pb", "pb")
    assert list(tmp_path.iterdir()) == []


def test_end_to_end_measurement_beside_the_prediction(tiny_lut, tmp_path):
    from hwnas.measure import backends
    from hwnas.measure.devices import get_device

    device = get_device("cpu", None)
    backend = backends.create(device.backend, device.options)
    table = LatencyTable.load(tiny_lut["table"])
    arch = Architecture.sample(TINY, random.Random(3))
    check = check_architecture(arch, TINY, table, device, backend, tmp_path)
    assert check.predicted_ms == pytest.approx(table.predict_ms(arch.op_specs(TINY)))
    assert check.predicted_uncalibrated_ms == pytest.approx(table.latency_ms(arch.op_specs(TINY)).sum())
    assert check.predicted_ms > 0 and table.network_calibration is not None  # scale x op costs + offset
    # the device's rounds, each in a fresh process, pooled
    assert check.measured.n == device.profile.runs * device.profile.rounds and check.measured.median_ms > 0
    assert check.error == pytest.approx(check.predicted_ms / check.measured.median_ms - 1)
    cached = list((tmp_path / "models").glob("*.onnx"))
    assert len(cached) == 1
    check_architecture(arch, TINY, table, device, backend, tmp_path)
    assert list((tmp_path / "models").glob("*.onnx")) == cached  # exported once, measured twice


def test_export_command(tmp_path):
    arch_path = tmp_path / "arch.json"
    arch_with_channel_changing_skips().save(arch_path)
    r = run_hwnas("export", "--arch", str(arch_path))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "arch.onnx").is_file() and "hwnas profile --device" in r.stdout
    r = run_hwnas("profile", "--device", "cpu", "--model", str(tmp_path / "arch.onnx"))
    assert r.returncode == 0 and "median" in r.stdout, r.stderr
    r = run_hwnas("export", "--arch", str(arch_path), "--run-dir", str(tmp_path))
    assert r.returncode == 2 and "exactly one of" in r.stderr and "Traceback" not in r.stderr
    r = run_hwnas("export", "--run-dir", str(tmp_path / "nothing"))
    assert r.returncode == 2 and "not a training run" in r.stderr


def test_tflite_export_matches_onnxruntime_or_is_refused(tmp_path):
    pytest.importorskip("onnx2tf", reason="needs the tflite extra: pip install '.[tflite]'")
    from hwnas.measure.tflite import check_against_onnx

    arch = arch_with_channel_changing_skips()
    torch.manual_seed(0)
    path = export_encoder(AvatarNetwork(arch, TINY, 24), tmp_path / "enc.tflite", "tflite")
    assert path.read_bytes()[4:8] == b"TFL3"
    assert check_against_onnx(tmp_path / "enc.onnx", path) < 1e-3
    torch.manual_seed(1)  # other weights: the check must notice
    other = export_encoder(AvatarNetwork(arch, TINY, 24), tmp_path / "other.onnx")
    with pytest.raises(HwnasError, match="mis-converted"):
        check_against_onnx(other, path)
