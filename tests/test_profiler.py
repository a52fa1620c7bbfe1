"""The profiler in-process against onnxruntime: failures recorded, noisy ops re-measured, drift flagged."""

import dataclasses

import pytest

from hwnas.core.errors import HwnasError
from hwnas.core.measurement import Measurement
from hwnas.lut import build_table
from hwnas.measure.artifacts import ArtifactCache, NetworkSpec
from hwnas.measure.backends import create
from hwnas.measure.calibration import drift_summary
from hwnas.measure.devices import get_device
from hwnas.measure.profiler import OVERHEAD_OP, Profiler, interleaved
from hwnas.measure.store import MeasurementStore
from hwnas.ops import OpSpec
from hwnas.space import get_preset


@pytest.fixture
def setup(tmp_path):
    device = get_device("cpu")
    device = dataclasses.replace(device, profile=dataclasses.replace(device.profile, warmup=2, runs=10, rounds=1))
    backend = create(device.backend, device.options)
    store = MeasurementStore(tmp_path / "m.sqlite")
    cache = ArtifactCache(tmp_path / "artifacts")
    yield device, backend, store, cache
    store.close()


def test_a_failing_op_is_recorded_and_the_run_goes_on(setup):
    device, backend, store, cache = setup
    preset = get_preset("avatar", "tiny")
    specs = preset.enumerate_ops()
    victim = specs[7]
    cache.path(victim, "onnx").parent.mkdir(parents=True)
    cache.path(victim, "onnx").write_bytes(b"this is not an onnx model")  # onnxruntime must refuse it

    report = Profiler(device, backend, store, cache).run(specs, progress=False)
    assert [k for k, _ in report.failed] == [victim.key]
    assert report.measured == len(specs) - 1
    stored = store.results(device.name, backend.config_id())
    assert stored[victim.key].status == "failed"
    assert "protobuf" in stored[victim.key].error.lower()  # the reason, as onnxruntime gave it
    with pytest.raises(HwnasError, match=f"1 op\\(s\\) failed.*{victim.key}.*--retry-failed"):
        build_table(store, device, backend, preset)

    cache.path(victim, "onnx").unlink()
    report = Profiler(device, backend, store, cache).run(specs, progress=False, retry_failed=True)
    assert report.measured == 1 and not report.failed
    assert build_table(store, device, backend, preset).keys == {s.key for s in specs}


def test_noisy_ops_are_measured_again(setup):
    device, backend, store, cache = setup
    strict = dataclasses.replace(
        device, profile=dataclasses.replace(device.profile, noise_threshold=1e-12, remeasure=2)
    )
    specs = get_preset("avatar", "tiny").enumerate_ops()[:4]
    report = Profiler(strict, backend, store, cache).run(specs, progress=False)
    results = store.results(device.name, backend.config_id())
    assert all(r.attempts == 3 for r in results.values())  # 1 + remeasure
    assert len(report.noisy) == 4


def test_overhead_and_reference_are_calibrated(setup):
    device, backend, store, cache = setup
    specs = get_preset("avatar", "tiny").enumerate_ops()
    frequent = dataclasses.replace(device, profile=dataclasses.replace(device.profile, reference_every=10))
    Profiler(frequent, backend, store, cache).run(specs, progress=False)
    cid = backend.config_id()
    assert [k for k, _, _ in store.calibration(device.name, cid, "overhead")] == [OVERHEAD_OP.key]
    refs = store.calibration(device.name, cid, "reference")
    assert len(refs) == 1 + len(specs) // 10 + 1  # at the start, every 10 ops, at the end
    assert len({k for k, _, _ in refs}) == 1


def test_drift_is_flagged_when_the_reference_slows_down(tmp_path):
    with MeasurementStore(tmp_path / "m.sqlite") as store:
        for median in (1.0, 1.02, 0.99, 1.35):
            store.put_calibration(
                "d", "c", "reference", "conv-k3-s1-cin8-cout8-h8w8", Measurement.from_samples([median] * 3)
            )
        drift = drift_summary(store, "d", "c", threshold=0.1)
        assert drift.n == 4 and drift.max_rel_change == pytest.approx(0.35)
        assert drift.drifted and "DRIFT" in drift.describe()
        assert not drift_summary(store, "d", "c", threshold=0.5).drifted


def test_a_second_concurrent_run_on_the_same_device_is_refused(setup):
    device, backend, store, cache = setup
    from filelock import FileLock

    with FileLock(str(store.path) + f".{device.name}.lock"), pytest.raises(HwnasError, match="another"):
        Profiler(device, backend, store, cache).run(get_preset("avatar", "tiny").enumerate_ops(), progress=False)


def test_the_table_judges_noise_by_the_devices_threshold(setup):
    """An op with IQR/median 0.2 is noisy on a device with threshold 0.1, not on one with 0.25 (the store used
    to rebuild every Measurement with the default 0.1)."""
    device, backend, store, _ = setup
    preset = get_preset("digits", "tiny")
    cid = backend.config_id()
    samples = [0.9, 0.9, 1.0, 1.0, 1.0, 1.1, 1.1]  # median 1.0, IQR 0.2
    for spec in preset.enumerate_ops():
        store.put_ok(device.name, cid, spec.key, Measurement.from_samples(samples), attempts=1)
    store.put_calibration(device.name, cid, "overhead", OVERHEAD_OP.key, Measurement.from_samples([0.01]))
    lenient = dataclasses.replace(device, profile=dataclasses.replace(device.profile, noise_threshold=0.25))
    assert not build_table(store, lenient, backend, preset).frame.noisy.any()
    assert build_table(store, device, backend, preset).frame.noisy.all()


def test_onnxruntime_defaults_to_the_graph_level_that_predicts_networks():
    """Level "all" (NCHWc reorders around every isolated op) mispredicts networks; a preset that names no
    level gets "extended", like the built-in `cpu` preset."""
    from hwnas.measure.backends.ort import OnnxRuntimeBackend

    assert OnnxRuntimeBackend().options["graph_optimization"] == "extended"
    assert OnnxRuntimeBackend().config_id() == create("onnxruntime", get_device("cpu").options).config_id()


class Throttling:
    """onnxruntime on a device that runs at a tenth of its speed after its first ``after`` timed runs, as a phone
    does when it throttles: the real timings, scaled (10x, so that a baseline that itself ran 2x slow on a loaded
    machine, as one did in CI, still shows the throttle far above the threshold)."""

    def __init__(self, backend, after: int):
        self.backend, self.after, self.calls = backend, after, 0

    def __getattr__(self, name):
        return getattr(self.backend, name)

    def measure(self, artifact, warmup, runs, noise_threshold):
        self.calls += 1
        m = self.backend.measure(artifact, warmup, runs, noise_threshold)
        scale = 10.0 if self.calls > self.after else 1.0
        return Measurement.from_samples([s * scale for s in m.samples_ms], noise_threshold)


@pytest.mark.parametrize("verbose", [False, True])
def test_drift_is_reported_once_with_the_ops_it_touched(setup, capsys, verbose):
    device, backend, store, cache = setup
    # a threshold well above this machine's own noise (the reference once ran +88 % off its baseline unthrottled),
    # well below the throttle
    settings = dataclasses.replace(device.profile, reference_every=10, drift_threshold=2.0, rounds=1)
    frequent = dataclasses.replace(device, profile=settings)
    specs = get_preset("avatar", "tiny").enumerate_ops()
    throttling = Throttling(backend, after=2 + 20)  # overhead, baseline reference, then 20 ops at full speed
    report = Profiler(frequent, throttling, store, cache).run(specs, progress=True, verbose=verbose)

    assert report.drift.drifted and report.drift.max_rel_change > 2.0
    # the reference after op 20 ran throttled, so did every later one: ops 11-45 count, ops 1-10 do not
    assert report.drifted_ops == len(specs) - 10
    drift_lines = [line for line in report.lines() if "DRIFT" in line]
    assert len(drift_lines) == 1
    assert f"{len(specs) - 10} of the {len(specs)} op measurements of this run" in drift_lines[0]
    printed = capsys.readouterr()
    events = [line for line in (printed.out + printed.err).splitlines() if "drift" in line.lower()]
    assert len(events) == (4 if verbose else 0)  # the references after ops 20, 30, 40 and 45


def test_rounds_interleave_every_op_and_network_and_resume_what_a_round_lacks(setup):
    device, backend, store, cache = setup
    specs = get_preset("avatar", "tiny").enumerate_ops()[:6]
    n1, n2 = (NetworkSpec(key, "fit", "", lambda: None) for key in ("n1", "n2"))  # interleaved only orders them
    steps = interleaved(specs, {s.key: 3 for s in specs}, [n1, n2], {"n1": 3, "n2": 1})
    ops = [s.key for s in steps if isinstance(s, OpSpec)]
    assert [ops.count(s.key) for s in specs] == [3] * 6 and steps.count(n1) == 3 and steps.count(n2) == 1
    assert ops[:6] == [s.key for s in specs] and ops[6:12] != ops[:6] and sorted(ops[6:12]) == sorted(ops[:6])
    first = steps[: steps.index(specs[-1]) + 1]
    assert first.index(n1) == 2 and first.index(n2) == 5  # spread through the round, not at its end

    once = dataclasses.replace(device, profile=dataclasses.replace(device.profile, rounds=1))
    Profiler(once, backend, store, cache).run(specs, progress=False)
    cid = backend.config_id()
    assert {r.rounds for r in store.results(device.name, cid).values()} == {1}
    thrice = dataclasses.replace(device, profile=dataclasses.replace(device.profile, rounds=3))
    report = Profiler(thrice, backend, store, cache).run(specs, progress=False)
    assert report.measured == 6 and report.op_runs == 12  # the two rounds each op lacked, nothing doubled
    stored = store.results(device.name, cid)
    assert {r.rounds for r in stored.values()} == {3} and {r.measurement.n for r in stored.values()} == {30}
    again = Profiler(thrice, backend, store, cache).run(specs, progress=False)
    assert again.measured == 0 and again.op_runs == 0


def test_pooled_measurements_join_samples_and_pool_summaries():
    from hwnas.core.measurement import RunSummary

    a, b = Measurement.from_samples([1.0, 2.0, 3.0]), Measurement.from_samples([10.0])
    assert a.pooled(b).samples_ms == (1.0, 2.0, 3.0, 10.0) and a.pooled(b).median_ms == 2.5
    s = Measurement.from_summary(RunSummary(n=2, mean_ms=4.0, std_ms=0.0, min_ms=4.0, max_ms=4.0, median_ms=4.0))
    pooled = a.pooled(s)
    assert pooled.n == 5 and pooled.mean_ms == pytest.approx((6 + 8) / 5)
    assert pooled.summary.min_ms == 1.0 and pooled.summary.max_ms == 4.0
    x = [1.0, 2.0, 3.0, 4.0, 4.0]
    assert pooled.summary.std_ms == pytest.approx(float(__import__("numpy").std(x)))
