"""Profile a space on a device and turn the store into its latency table."""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hwnas.core.errors import HwnasError
from hwnas.core.files import check_writable, write_json
from hwnas.core.measurement import Measurement
from hwnas.lut.build import build_table, default_table_path
from hwnas.lut.network_calibration import calibration_networks
from hwnas.lut.table import LatencyTable
from hwnas.measure import backends
from hwnas.measure.artifacts import ArtifactCache
from hwnas.measure.backends.base import Backend
from hwnas.measure.devices import DevicePreset, get_device
from hwnas.measure.farm import check_farm, profile_farm
from hwnas.measure.profiler import Profiler, ProfileReport, profile_model
from hwnas.measure.store import MeasurementStore
from hwnas.space import Preset

STORE = "measurements.sqlite"


def open_device(
    name: str, devices_file: str | os.PathLike | None = None, overrides: Mapping[str, Any] | None = None
) -> tuple[DevicePreset, Backend]:
    """The device preset (its backend options updated by ``overrides``) and a backend built with them."""
    device = get_device(name, devices_file)
    if overrides:
        device = device.with_overrides(overrides)
    return device, backends.create(device.backend, device.options)


def profile_command(device: DevicePreset, preset: Preset, workdir: Path) -> str:
    """The `hwnas profile` a hint suggests, with the user's own devices file, device options (--host, --option
    binary=..., ...) and working folder: it runs as printed."""
    return (
        f"hwnas profile --device {device.name}{device.command_options()} --space {preset.space} "
        f"--preset {preset.preset} --workdir {shlex.quote(str(workdir))}"
    )


def build_lut_command(device: DevicePreset, preset: Preset, workdir: Path, lut_dir: Path) -> str:
    """`hwnas profile ... && hwnas build-lut ...` with the user's own folders."""
    profile = profile_command(device, preset, workdir)
    return f"{profile} && hwnas build-lut{profile.removeprefix('hwnas profile')} --lut-dir {shlex.quote(str(lut_dir))}"


def profile_space(
    device: DevicePreset,
    backend: Backend,
    preset: Preset,
    workdir: Path,
    progress: bool = True,
    retry_failed: bool = False,
    farm: Sequence[str] = (),
    ray_address: str | None = None,
    verbose: bool = False,
) -> ProfileReport:
    """Measure what the store in ``workdir`` lacks of the preset's ops: on the device, or on every device of
    ``farm`` (addresses of devices of this preset) at once."""
    check_writable(workdir, "--workdir")
    if farm:  # what the device side needs is checked before anything is written
        check_farm(farm)
    else:
        backend.check()
    cache, specs = ArtifactCache(Path(workdir) / "artifacts"), preset.enumerate_ops()
    with MeasurementStore(Path(workdir) / STORE) as store:
        if farm:
            return profile_farm(device, farm, specs, store, cache, progress, retry_failed, ray_address)
        networks = calibration_networks(preset, device.profile.calibration_networks)
        return Profiler(device, backend, store, cache).run(specs, progress, retry_failed, verbose, networks)


def table_from_store(device: DevicePreset, backend: Backend, preset: Preset, workdir: Path) -> LatencyTable:
    store_path = Path(workdir) / STORE
    if not store_path.is_file():
        raise HwnasError(f"no measurement store at {store_path}; run: {profile_command(device, preset, workdir)}")
    with MeasurementStore(store_path) as store:
        return build_table(store, device, backend, preset, profile_command(device, preset, workdir))


def build_lut(
    device: DevicePreset, backend: Backend, preset: Preset, workdir: Path, lut_dir: Path, out: Path | None = None
) -> tuple[LatencyTable, list[Path]]:
    """The store in ``workdir`` as the preset's table, written to ``out`` (.csv, with its .json and .parquet;
    default ``<lut_dir>/<device>/<space>-<preset>.csv``)."""
    if out is None:
        out = default_table_path(lut_dir, device.name, preset.space, preset.preset)
        check_writable(lut_dir, "--lut-dir")
    check_writable(out, "--out", is_file=True)
    table = table_from_store(device, backend, preset, workdir)
    return table, table.save(out)


def check_table_belongs(table: LatencyTable, device: DevicePreset, preset: Preset, path: Path, rebuild: str) -> None:
    """A table is used only for the device, space and preset it was built for."""
    m = table.metadata
    for key, want in (("device", device.name), ("space", preset.space), ("preset", preset.preset)):
        if m.get(key) != want:
            raise HwnasError(
                f"latency table {path} was built for {key} {m.get(key)!r}, not {want!r}; move it away or "
                f"rebuild it with: {rebuild}"
            )


def ensure_table(
    device: DevicePreset,
    backend: Backend,
    preset: Preset,
    workdir: Path,
    lut_dir: Path,
    progress: bool = True,
) -> tuple[LatencyTable, Path]:
    """The device's table of the preset under ``lut_dir``; profiled and built first when it is missing."""
    path = default_table_path(lut_dir, device.name, preset.space, preset.preset)
    if path.is_file():
        table = LatencyTable.load(path)
        rebuild = build_lut_command(device, preset, workdir, lut_dir)
        check_table_belongs(table, device, preset, path, rebuild)
        table.require((s.key for s in preset.enumerate_ops()), rebuild)
        return table, path
    check_writable(lut_dir, "--lut-dir")
    profile_space(device, backend, preset, workdir, progress)
    table = table_from_store(device, backend, preset, workdir)
    table.save(path)
    return table, path


def profile_model_file(
    device: DevicePreset, backend: Backend, model: Path, workdir: Path, op_profile: bool = False
) -> tuple[Measurement, Path]:
    """One whole model measured as the device measures an op (with its time per op, where ``op_profile`` and the
    backend can), kept as JSON under ``<workdir>/models/<device>/`` beside the backend's configuration."""
    if op_profile:
        if "op_profiling" not in backend.option_defaults:
            raise HwnasError(
                f"device {device.name}'s backend {backend.name} cannot break a model down per op; --op-profile "
                "needs an Android device preset (adb-tflite: benchmark_model --enable_op_profiling)"
            )
        backend = backends.create(backend.name, {**backend.options, "op_profiling": True})
    out = Path(workdir) / "models" / device.name / f"{Path(model).name}.json"
    check_writable(out, "--workdir", is_file=True)
    measured = profile_model(backend, device, model)
    record = {"model": str(model), "device": device.name, **backend.config(), "measurement": measured.to_json()}
    write_json(out, record)
    return measured, out


def op_profile_lines(measured: Measurement, limit: int = 15) -> list[str]:
    """The slowest ops of a whole model, each with its share of the summed op time."""
    rows = sorted(measured.extra.get("op_profile", []), key=lambda r: -r["avg_ms"])
    total = sum(r["avg_ms"] for r in rows) or 1.0
    lines = [f"{len(rows)} ops, {total:.3f} ms summed; the slowest:"]
    lines += [
        f"  {r['avg_ms']:9.3f} ms {r['avg_ms'] / total:6.1%}  {r['node_type']:24s} {r['name']}" for r in rows[:limit]
    ]
    return lines
