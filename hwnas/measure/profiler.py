"""Profile a set of OpSpecs on one device: export, measure, store each result the moment it completes."""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock, Timeout
from tqdm import tqdm

from hwnas.core.errors import BackendUnavailable, DeviceFailed, DeviceFault, HwnasError, one_line
from hwnas.core.measurement import Measurement
from hwnas.measure.backends.base import Backend
from hwnas.measure.calibration import DriftSummary, drift_summary, overhead_ms
from hwnas.measure.devices import DevicePreset
from hwnas.measure.store import MeasurementStore, StoredResult
from hwnas.measure.worker import measure_loads
from hwnas.ops import OpSpec

if TYPE_CHECKING:
    from hwnas.measure.artifacts import ArtifactCache, NetworkSpec

# A model that does nothing: its latency is the fixed cost of one inference call on the backend.
OVERHEAD_OP = OpSpec("skip", 8, 8, h=8, w=8)


@dataclass
class ProfileReport:
    device: str
    config_id: str
    total: int
    already_done: int = 0
    measured: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    noisy: list[str] = field(default_factory=list)
    timed_ms: float = 0.0  # sum of every timed run of this invocation (re-measures included)
    wall_s: float = 0.0
    drift: DriftSummary | None = None
    drifted_ops: int | None = None  # op measurements of this run taken while the reference was off (None: not counted)
    op_runs: int = 0  # op measurements taken (one per op and round)
    calibration_failed: list[str] = field(default_factory=list)
    devices: dict[str, int] = field(default_factory=dict)  # a farm: ops measured by each device
    lost: list[str] = field(default_factory=list)  # a farm: devices that went away, with why
    networks_measured: int = 0  # whole networks measured for the table's calibration

    def lines(self) -> list[str]:
        out = [
            f"{self.device}: {self.total} ops, {self.already_done} already in the store, {self.measured} measured now,"
            f" {len(self.failed)} failed, {len(self.noisy)} still noisy after re-measuring; {self.wall_s:.1f} s"
        ]
        if self.networks_measured:
            out.append(f"  {self.networks_measured} whole networks measured for the table's calibration")
        out += [f"  failed: {key}: {reason}" for key, reason in self.failed[:10]]
        out += [f"  calibration failed: {line}" for line in self.calibration_failed[:3]]
        if self.devices:
            out.append("  by device: " + ", ".join(f"{a} {n} ops" for a, n in sorted(self.devices.items())))
        out += [f"  lost: {line} (its op went to another device)" for line in self.lost]
        if self.drift is not None:
            out.append(f"  {self.drift_line()}")
        return out

    def drift_line(self) -> str:
        """The drift of the whole run in one line: what the reference op did, and what it means for the ops."""
        d = self.drift
        assert d is not None
        if not d.drifted:
            return d.describe()
        during = (
            f"; {self.drifted_ops} of the {self.op_runs} op measurements of this run were taken while it was off by "
            f"more than {d.threshold:.0%}, kept as measured"
            if self.drifted_ops
            else ""
        )
        return (
            f"warning: {d.describe()}{during}; for a steadier table close other programs, let the device cool and "
            "profile into a fresh --workdir"
        )


def reference_op(specs: Sequence[OpSpec]) -> OpSpec:
    """A mid-cost op of the set, so that drift shows without costing much; stable across resumes."""
    ranked = sorted(specs, key=lambda s: (s.flops, s.key))
    return ranked[len(ranked) // 2]


class Profiler:
    def __init__(self, device: DevicePreset, backend: Backend, store: MeasurementStore, cache: ArtifactCache):
        self.device, self.backend, self.store, self.cache = device, backend, store, cache
        self.settings = device.profile
        self.config_id = backend.config_id()
        self.unconvertible: dict[str, str] = {}  # op key -> why its artifact could not be made

    def measure_spec(self, spec: OpSpec) -> Measurement:
        if spec.key in self.unconvertible:
            raise HwnasError(self.unconvertible[spec.key])
        artifact = self.cache.get(spec, self.backend.artifact_format, self.backend.precision)
        s = self.settings
        return self.backend.measure(artifact, s.warmup, s.runs, s.noise_threshold)

    def run(
        self,
        specs: Sequence[OpSpec],
        progress: bool = True,
        retry_failed: bool = False,
        verbose: bool = False,
        networks: Sequence[NetworkSpec] = (),
    ) -> ProfileReport:
        """Measure what the store lacks of ``specs`` and of the whole ``networks`` (measured spread through the
        ops, so that load changes touch both alike). Drift is summed up once in the report; ``verbose`` also
        prints each reference run that finds the device off its baseline."""
        self.backend.check()
        with device_lock(self.store, self.device.name):
            return self._run(specs, progress, retry_failed, verbose, networks)

    def _run(
        self,
        specs: Sequence[OpSpec],
        progress: bool,
        retry_failed: bool,
        verbose: bool,
        networks: Sequence[NetworkSpec],
    ) -> ProfileReport:
        start = time.perf_counter()
        dev, cid = self.device.name, self.config_id
        self.store.register_config(dev, cid, {**self.backend.config(), "device": dev})
        done = self.store.results(dev, cid, [s.key for s in specs])
        rounds = self.settings.rounds
        left = {s.key: rounds_left(done.get(s.key), rounds, retry_failed) for s in specs}
        todo = [s for s in specs if left[s.key]]
        report = ProfileReport(dev, cid, total=len(specs), already_done=len(specs) - len(todo), drifted_ops=0)
        ref = reference_op(specs) if specs else None
        # a missing overhead (never measured, or its run failed) is measured again even when every op is stored
        repair = bool(specs) and overhead_ms(self.store, dev, cid) is None
        stored = {n.key: n.rounds for n in self.store.networks(dev, cid)}
        nets = [n for n in networks if stored.get(n.key, 0) < rounds]
        fmt, precision = self.backend.artifact_format, self.backend.precision
        if todo or repair:  # every artifact first: conversions (TFLite) run in parallel processes
            needed = [OVERHEAD_OP, *([ref] if ref and todo else []), *todo]
            self.unconvertible = self.cache.prepare(needed, fmt, precision, progress=progress)
        if nets:
            failures = self.cache.prepare_networks(nets, fmt, precision)
            report.calibration_failed += [f"network {k}: {reason}" for k, reason in failures.items()]
            nets = [n for n in nets if n.key not in failures]
        steps = interleaved(todo, left, nets, {n.key: rounds - stored.get(n.key, 0) for n in nets})

        faults = DeviceFaults(self.settings.max_device_faults, dev)
        if repair:
            self._calibrate("overhead", OVERHEAD_OP, report, faults)
        if todo and ref is not None:
            self._calibrate("reference", ref, report, faults)

        total = sum(1 for step in steps if isinstance(step, OpSpec))
        bar = tqdm(total=total, desc=f"profile {dev}", unit="op", disable=not progress, dynamic_ncols=True)
        window, i, measured = 0, 0, set()  # ops measured since the last reference run; op steps taken; op keys
        for step in steps:
            if not isinstance(step, OpSpec):
                self._measure_network(step, report, faults)
                continue
            bar.set_postfix_str(step.key, refresh=False)
            if self._measure_and_store(step, report, faults) and step.key not in measured:
                measured.add(step.key)
                report.measured += 1
            bar.update(1)
            i, window = i + 1, window + 1
            report.op_runs += 1
            if ref is not None and (i % self.settings.reference_every == 0 or i == total):
                self._calibrate("reference", ref, report, faults)
                drift = drift_summary(self.store, dev, cid, self.settings.drift_threshold)
                if drift is not None and abs(drift.last_rel_change) > drift.threshold:
                    report.drifted_ops = (report.drifted_ops or 0) + window  # the window that ends off baseline
                    if verbose:
                        bar.write(f"hwnas: drift after op {i}: reference {drift.last_rel_change:+.1%} off baseline")
                window = 0
        bar.close()
        report.drift = drift_summary(self.store, dev, cid, self.settings.drift_threshold)
        report.wall_s = time.perf_counter() - start
        return report

    def _measure_and_store(self, spec: OpSpec, report: ProfileReport, faults: DeviceFaults) -> bool:
        """One round of an op, pooled with its earlier rounds in the store. False when it failed."""
        dev, cid = self.device.name, self.config_id
        earlier = self.store.results(dev, cid, [spec.key]).get(spec.key)
        earlier = earlier if earlier is not None and earlier.status == "ok" else None
        attempts: list[Measurement] = []
        try:
            best = quietest(lambda: self.measure_spec(spec), self.settings.remeasure, attempts)
        except BackendUnavailable:  # the device itself is gone: stop; the store keeps what was measured
            raise
        except Exception as exc:  # recorded with its reason; the run goes on unless the device keeps failing
            reason = one_line(exc)
            if earlier is None:  # a later round that fails keeps the rounds already stored
                self.store.put_failed(dev, cid, spec.key, reason, len(attempts) + 1)
                report.failed.append((spec.key, reason))
            faults.failed(exc)
            return False
        finally:
            report.timed_ms += sum(m.total_ms for m in attempts)
        faults.ok()
        if earlier is not None and earlier.measurement is not None:
            best, rounds = earlier.measurement.pooled(best), earlier.rounds + 1
            best = Measurement(best.samples_ms, self.settings.noise_threshold, best.summary, best.extra)
        else:
            rounds = 1
        self.store.put_ok(dev, cid, spec.key, best, len(attempts), rounds)
        if rounds >= self.settings.rounds and best.noisy:
            report.noisy.append(spec.key)
        return True

    def _measure_network(self, net: NetworkSpec, report: ProfileReport, faults: DeviceFaults) -> None:
        dev, cid = self.device.name, self.config_id
        path = self.cache.network(net, self.backend.artifact_format, self.backend.precision)
        s, attempts = self.settings, []
        try:
            best = quietest(
                lambda: measure_loads(self.backend, path, s.warmup, s.runs, s.network_loads, s.noise_threshold),
                s.remeasure,
                attempts,
            )
        except BackendUnavailable:
            raise
        except Exception as exc:  # the table is still built from the ops, with one network less to calibrate it
            report.calibration_failed.append(f"network {net.key}: {one_line(exc)}")
            faults.failed(exc)
            return
        finally:
            report.timed_ms += sum(m.total_ms for m in attempts)
        faults.ok()
        earlier = {n.key: n for n in self.store.networks(dev, cid)}.get(net.key)
        rounds = 1 if earlier is None else earlier.rounds + 1
        best = best if earlier is None else earlier.measurement.pooled(best)
        self.store.put_network(dev, cid, net.key, net.role, net.description, best, rounds)
        if rounds == 1:
            report.networks_measured += 1

    def _calibrate(self, kind: str, spec: OpSpec, report: ProfileReport, faults: DeviceFaults) -> None:
        try:
            m = self.measure_spec(spec)
        except BackendUnavailable:
            raise
        except Exception as exc:  # e.g. a delegate that takes no part of the empty model: the ops still count
            report.calibration_failed.append(f"{kind} ({spec.key}): {one_line(exc)}")
            faults.failed(exc)
            return
        faults.ok()
        report.timed_ms += m.total_ms
        self.store.put_calibration(self.device.name, self.config_id, kind, spec.key, m)


class DeviceFaults:
    """Consecutive failures whose cause is the device, not the op (``DeviceFault``: a hung run, a lost
    connection): after ``limit`` of them in a row the profile stops with the cause, instead of waiting out
    every op's timeout. Any success, or a failure of the op itself, resets the count."""

    def __init__(self, limit: int, device: str):
        self.limit, self.device, self.run = limit, device, 0

    def ok(self) -> None:
        self.run = 0

    def failed(self, exc: BaseException) -> None:
        if not isinstance(exc, DeviceFault):
            self.run = 0
            return
        self.run += 1
        if self.run >= self.limit:
            raise DeviceFailed(
                f"device {self.device} failed {self.run} runs in a row ({one_line(exc)}); stopped: check that it is "
                "awake, connected and not overheating (hwnas doctor), then re-run the same command to go on"
            )


def rounds_left(stored: StoredResult | None, rounds: int, retry_failed: bool) -> int:
    """How many more rounds an op needs: all of them when never measured (or failed and retried), none when it
    failed, else what its stored rounds lack."""
    if stored is None or (retry_failed and stored.status == "failed"):
        return rounds
    return 0 if stored.status == "failed" else max(rounds - stored.rounds, 0)


def interleaved(
    ops: Sequence[OpSpec], ops_left: dict[str, int], nets: Sequence[NetworkSpec], nets_left: dict[str, int]
) -> list[OpSpec | NetworkSpec]:
    """The order of a profile: round after round, each over the ops that still need it (the first in the given
    order, later ones shuffled, reproducibly), with the networks that need the round spread evenly through it —
    so that a change of load or temperature touches every op and network alike instead of a block of them."""
    steps: list[OpSpec | NetworkSpec] = []
    for r in range(max([*ops_left.values(), *nets_left.values(), 0])):
        these = [s for s in ops if ops_left[s.key] > r]
        if r:
            random.Random(r).shuffle(these)
        here = [n for n in nets if nets_left[n.key] > r]
        slots = [(j + 1) * len(these) // (len(here) + 1) for j in range(len(here))]
        for i in range(len(these) + 1):
            steps += [n for n, slot in zip(here, slots, strict=True) if slot == i]
            if i < len(these):
                steps.append(these[i])
    return steps


def quietest(measure: Callable[[], Measurement], remeasure: int, attempts: list[Measurement]) -> Measurement:
    """Measure; while the result is noisy, measure again (up to ``remeasure`` more times) and keep the quietest.
    Every measurement taken is appended to ``attempts``."""
    while not attempts or (min(attempts, key=_noise).noisy and len(attempts) <= remeasure):
        attempts.append(measure())
    return min(attempts, key=_noise)


def _noise(m: Measurement) -> float:
    return m.noise_ratio


@contextlib.contextmanager
def device_lock(store: MeasurementStore, device: str) -> Iterator[None]:
    """One `hwnas profile` per device and store at a time."""
    lock = FileLock(str(store.path) + f".{device}.lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise HwnasError(
            f"another `hwnas profile` is measuring device {device!r} into {store.path}; wait for it or use another "
            "--workdir"
        ) from None
    try:
        yield
    finally:
        lock.release()


def profile_model(backend: Backend, device: DevicePreset, model: Path) -> Measurement:
    """Measure one whole model file as the device preset would measure an op."""
    model = Path(model)
    if not model.is_file():
        raise HwnasError(f"model file {model} does not exist")
    if model.suffix.lstrip(".") != backend.artifact_format:
        raise HwnasError(
            f"backend {backend.name!r} of device {device.name!r} takes .{backend.artifact_format} "
            f"files, not {model.name}"
        )
    backend.check()
    s = device.profile
    try:
        return backend.measure(model, s.warmup, s.runs, s.noise_threshold)
    except HwnasError:
        raise
    except Exception as exc:
        raise HwnasError(f"{backend.name} could not run {model}: {one_line(exc)}") from None
