"""Profile one space on a farm: several devices of one preset, each op measured once by whichever device is free.

One Ray actor per device. Each actor asks for a custom resource named after its device (``hwnas-device:<address>``,
one unit), so Ray places it on the node the device is attached to and never starts a second one for the same
device; an actor runs one call at a time, so a device never runs two measurements at once. This process keeps the
queue and is the only writer of the store: an op is written once, when its result arrives. A device that goes
away (its actor dies, or its backend reports it unreachable) is dropped and its op goes back to the queue; the
run fails only when no device is left, and then resumes like any profile.

Needs the ``distributed`` extra (Ray). Without ``ray_address`` a local Ray instance is started with one
resource unit per device; on a cluster, start each node with the resources of its devices, e.g.
``ray start --address HEAD --resources '{"hwnas-device:10.0.0.7:5555": 1}'``, and pass ``--ray-address auto``.
"""

from __future__ import annotations

import collections
import contextlib
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from hwnas.core.errors import BackendUnavailable, HwnasError, one_line
from hwnas.core.jobs import ray_session, require_ray
from hwnas.core.measurement import Measurement
from hwnas.measure import backends
from hwnas.measure.artifacts import ArtifactCache
from hwnas.measure.calibration import drift_summary, overhead_ms
from hwnas.measure.devices import DevicePreset
from hwnas.measure.profiler import OVERHEAD_OP, ProfileReport, device_lock, quietest, reference_op
from hwnas.measure.store import MeasurementStore
from hwnas.ops import OpSpec

RESOURCE_PREFIX = "hwnas-device:"


def resource_name(address: str) -> str:
    return RESOURCE_PREFIX + address


def address_options(address: str) -> dict[str, str]:
    """``ip:port`` is a device in TCP mode, anything else a USB serial."""
    return {"host": address} if ":" in address else {"serial": address}


class DeviceWorker:
    """Lives in a Ray actor: one device's backend, and a folder for the artifacts it is sent."""

    def __init__(self, device: DevicePreset, address: str):
        self.device = replace(device, options={**device.options, **address_options(address)})
        self.backend = backends.create(self.device.backend, self.device.options)
        self.folder = Path(tempfile.mkdtemp(prefix="hwnas-farm-"))

    def open(self) -> tuple[str, dict[str, Any]] | str:
        """(configuration id, configuration), or why the device cannot be used."""
        try:
            self.backend.check()
            return self.backend.config_id(), {**self.backend.config(), "device": self.device.name}
        except HwnasError as exc:
            return str(exc)

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def measure(self, name: str, artifact: bytes, calibration: bool) -> tuple[str, Any, int]:
        """("ok", quietest Measurement, attempts), ("failed", reason, attempts) or ("lost", reason, 0): the
        device itself is gone. A calibration run is measured once, as the profiler does."""
        path = self.folder / name
        if not path.exists():
            path.write_bytes(artifact)
        s = self.device.profile
        attempts: list[Measurement] = []
        try:
            best = quietest(lambda: self.backend.measure(path, s.warmup, s.runs, s.noise_threshold),
                            0 if calibration else s.remeasure, attempts)  # fmt: skip
        except BackendUnavailable as exc:
            return "lost", str(exc), 0
        except Exception as exc:
            return "failed", one_line(exc), len(attempts) + 1
        return "ok", best, len(attempts)


@dataclass
class _Job:
    spec: OpSpec
    kind: str  # "op", "overhead" or "reference"


def check_farm(addresses: Sequence[str]) -> None:
    """Before anything is written: the farm is usable."""
    if len(set(addresses)) != len(addresses):
        raise HwnasError("a device is named twice in --farm; name each device once")
    require_ray("profiling on several devices (--farm)")


def profile_farm(
    device: DevicePreset,
    addresses: Sequence[str],
    specs: Sequence[OpSpec],
    store: MeasurementStore,
    cache: ArtifactCache,
    progress: bool = True,
    retry_failed: bool = False,
    ray_address: str | None = None,
) -> ProfileReport:
    """Measure what the store lacks of ``specs`` on every device of ``addresses`` at once."""
    check_farm(addresses)
    resources = {resource_name(a): 1.0 for a in addresses}  # a local instance: one unit per device
    with ray_session(ray_address, resources) as ray, device_lock(store, device.name):
        return _Farm(ray, device, addresses, store, cache).run(specs, progress, retry_failed)


class _Farm:
    def __init__(
        self, ray: Any, device: DevicePreset, addresses: Sequence[str], store: MeasurementStore, cache: ArtifactCache
    ):
        self.ray, self.device, self.store, self.cache = ray, device, store, cache
        actor = ray.remote(DeviceWorker)
        self.workers = {
            a: actor.options(num_cpus=0, resources={resource_name(a): 1}, max_restarts=0).remote(device, a)
            for a in addresses
        }
        self.done_by: dict[str, int] = collections.Counter()
        self.lost: list[str] = []

    def run(self, specs: Sequence[OpSpec], progress: bool, retry_failed: bool) -> ProfileReport:
        try:
            return self._run(specs, progress, retry_failed)
        finally:
            for worker in self.workers.values():  # the models sent to the devices' hosts
                with contextlib.suppress(self.ray.exceptions.RayError):  # a lost device's worker is gone
                    self.ray.get(worker.close.remote(), timeout=30)

    def _run(self, specs: Sequence[OpSpec], progress: bool, retry_failed: bool) -> ProfileReport:
        start = time.perf_counter()
        dev = self.device.name
        cid = self._open()
        done = self.store.results(dev, cid, [s.key for s in specs])
        todo = [s for s in specs if s.key not in done or (retry_failed and done[s.key].status == "failed")]
        report = ProfileReport(dev, cid, total=len(specs), already_done=len(specs) - len(todo))
        repair = bool(specs) and overhead_ms(self.store, dev, cid) is None  # never measured, or its run failed
        if todo or repair:
            ref = reference_op(specs)
            backend = backends.create(self.device.backend, self.device.options)
            unconvertible = self.cache.prepare([OVERHEAD_OP, ref, *todo], backend.artifact_format,
                                               backend.precision, progress=progress)  # fmt: skip
            for spec in todo:
                if spec.key in unconvertible:
                    self.store.put_failed(dev, cid, spec.key, unconvertible[spec.key], 1)
                    report.failed.append((spec.key, unconvertible[spec.key]))
            jobs = [_Job(s, "op") for s in todo if s.key not in unconvertible]
            # the overhead once; the drift reference on each device as it starts and after every reference_every ops
            first = [_Job(OVERHEAD_OP, "overhead")] if repair else []
            self._dispatch(collections.deque(first + jobs), ref, backend, cid, report, progress)
        report.drift = drift_summary(self.store, dev, cid, self.device.profile.drift_threshold)
        report.wall_s = time.perf_counter() - start
        report.devices = dict(self.done_by)
        report.lost = list(self.lost)
        return report

    def _open(self) -> str:
        """Connect every device; they must share one configuration (same firmware, runtime and options)."""
        try:
            opened = self.ray.get([w.open.remote() for w in self.workers.values()])
        except self.ray.exceptions.RayError as exc:
            raise HwnasError(f"a device worker of the farm could not start: {one_line(exc)}") from None
        configs = dict(zip(self.workers, opened, strict=True))
        for address, answer in configs.items():
            if isinstance(answer, str):
                raise HwnasError(f"device {address} of the farm: {answer}")
        ids = {cid for cid, _ in configs.values()}
        if len(ids) > 1:
            first = next(iter(configs.values()))[1]["versions"]
            differ = sorted(
                f"{a} ({k}: {c['versions'].get(k)!r})"
                for a, (_, c) in configs.items()
                for k in first
                if c["versions"].get(k) != first[k]
            )
            raise HwnasError(
                f"the devices of the farm differ, so their measurements would not make one table: {', '.join(differ)}; "
                "profile them as separate presets or bring them to the same software"
            )
        cid, config = next(iter(configs.values()))
        self.store.register_config(self.device.name, cid, config)
        return cid

    def _dispatch(self, queue, ref: OpSpec, backend, cid: str, report: ProfileReport, progress: bool) -> None:
        ray, dev, every = self.ray, self.device.name, self.device.profile.reference_every
        fmt, precision = backend.artifact_format, backend.precision
        alive = dict(self.workers)
        own: dict[str, collections.deque] = {a: collections.deque([_Job(ref, "reference")]) for a in alive}
        pending: dict[Any, tuple[str, _Job]] = {}
        n_ops = sum(job.kind == "op" for job in queue)
        bar = tqdm(total=n_ops, desc=f"profile {dev} x{len(alive)}", unit="op", disable=not progress)

        def submit(address: str) -> None:
            job = own[address].popleft() if own[address] else queue.popleft() if queue else None
            if job is None:
                return
            path = self.cache.get(job.spec, fmt, precision)
            call = alive[address].measure.remote(path.name, path.read_bytes(), job.kind != "op")
            pending[call] = (address, job)

        for address in alive:
            submit(address)
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            address, job = pending.pop(ready[0])
            try:
                status, value, attempts = ray.get(ready[0])
            except ray.exceptions.RayActorError as exc:
                status, value, attempts = "lost", one_line(exc), 0
            if status == "lost":
                del alive[address]
                self.lost.append(f"{address}: {value}")
                bar.write(f"hwnas: warning: device {address} is gone ({value}); its op goes to another device")
                if job.kind != "reference":
                    queue.appendleft(job)
                if not alive and queue:
                    bar.close()
                    raise BackendUnavailable(
                        f"every device of the farm is gone; {sum(j.kind == 'op' for j in queue)} ops remain. "
                        "Reconnect them and run the same command to resume"
                    )
                for other in alive:  # an idle device picks the op up
                    if not any(a == other for a, _ in pending.values()):
                        submit(other)
                continue
            self._record(job, status, value, attempts, cid, report)
            if job.kind == "op":
                self.done_by[address] += 1
                bar.update(1)
                if self.done_by[address] % every == 0:
                    own[address].append(_Job(ref, "reference"))
            submit(address)
        bar.close()

    def _record(self, job: _Job, status: str, value: Any, attempts: int, cid: str, report: ProfileReport) -> None:
        dev, key = self.device.name, job.spec.key
        if job.kind != "op":
            if status == "ok":
                report.timed_ms += value.total_ms
                self.store.put_calibration(dev, cid, job.kind, key, value)
            else:
                report.calibration_failed.append(f"{job.kind} ({key}): {value}")
        elif status == "ok":
            report.timed_ms += value.total_ms
            self.store.put_ok(dev, cid, key, value, attempts)
            report.measured += 1
            if value.noisy:
                report.noisy.append(key)
        else:
            self.store.put_failed(dev, cid, key, value, attempts)
            report.failed.append((key, value))
