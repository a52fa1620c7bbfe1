"""Profile a space on a device and turn the store into its latency table."""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from hwnas.core.errors import HwnasError
from hwnas.core.files import check_writable
from hwnas.lut.build import build_table, default_table_path
from hwnas.lut.table import LatencyTable
from hwnas.measure import backends
from hwnas.measure.artifacts import ArtifactCache
from hwnas.measure.backends.base import Backend
from hwnas.measure.devices import DevicePreset, get_device
from hwnas.measure.farm import check_farm, profile_farm
from hwnas.measure.profiler import Profiler, ProfileReport
from hwnas.measure.store import MeasurementStore
from hwnas.space import Preset

STORE = "measurements.sqlite"


def open_device(
    name: str, devices_file: str | os.PathLike | None = None, overrides: Mapping[str, Any] | None = None
) -> tuple[DevicePreset, Backend]:
    """The device preset (its backend options updated by ``overrides``) and a backend built with them."""
    device = get_device(name, devices_file)
    if overrides:
        device = replace(device, options={**device.options, **overrides})
    return device, backends.create(device.backend, device.options)


def profile_command(device: DevicePreset, preset: Preset, workdir: Path) -> str:
    """The `hwnas profile` a hint suggests, with the user's own devices file and working folder."""
    devices_file = f" --devices-file {shlex.quote(device.user_file)}" if device.user_file else ""
    return (
        f"hwnas profile --device {device.name}{devices_file} --space {preset.space} --preset {preset.preset} "
        f"--workdir {shlex.quote(str(workdir))}"
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
        return Profiler(device, backend, store, cache).run(specs, progress, retry_failed, verbose)


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
