"""Aggregate the measurement store into a LatencyTable for one device and one search-space preset."""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hwnas import __version__
from hwnas.core.errors import HwnasError, list_keys
from hwnas.lut.network_calibration import calibrate, calibration_networks
from hwnas.lut.table import LatencyTable
from hwnas.measure.backends.base import Backend
from hwnas.measure.calibration import drift_summary, overhead_ms
from hwnas.measure.devices import DevicePreset
from hwnas.measure.store import MeasurementStore
from hwnas.space import Preset


def default_table_path(lut_dir: Path, device: str, space: str, preset: str) -> Path:
    return Path(lut_dir) / device / f"{space}-{preset}.csv"


def host_info() -> dict[str, object]:
    return {
        "node": platform.node(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "system": platform.platform(),
        "python": platform.python_version(),
    }


def measured_configuration(
    store: MeasurementStore, device: DevicePreset, backend: Backend, keys: list[str], fill: str
) -> tuple[str, dict[str, Any]]:
    """The configuration (id, backend + options + versions) whose measurements make the table. A backend that
    can name its versions here (a local runtime) gives today's, so that an upgraded runtime is measured again;
    one that would have to reach the device for them gets, from the store, the configuration recorded with the
    same backend and options that holds the most of ``keys`` (the newest of equals): offline, no connection."""
    if not backend.versions_need_device:
        return backend.config_id(), backend.config()
    identity = json.loads(json.dumps(backend.identity(), sort_keys=True, default=str))
    candidates = [
        (len(store.results(device.name, cid, keys)), order, cid, config)
        for order, (cid, config) in enumerate(store.configs(device.name))
        if {k: config.get(k) for k in identity} == identity
    ]
    if not candidates:
        raise HwnasError(
            f"the store holds no measurements of {device.name} with {backend.name} options "
            f"{identity['options']}; measure them with: {fill}"
        )
    *_, cid, config = max(candidates, key=lambda c: (c[0], c[1]))
    return cid, {k: v for k, v in config.items() if k != "device"}


def build_table(
    store: MeasurementStore, device: DevicePreset, backend: Backend, preset: Preset, fill: str | None = None
) -> LatencyTable:
    """The preset's table from the store; ``fill`` is the profile command a refusal names (the user's own
    folders in it)."""
    specs = preset.enumerate_ops()
    fill = fill or f"hwnas profile --device {device.name} --space {preset.space} --preset {preset.preset}"
    config_id, config = measured_configuration(store, device, backend, [s.key for s in specs], fill)
    results = store.results(device.name, config_id, [s.key for s in specs], device.profile.noise_threshold)
    failed = sorted(k for k, r in results.items() if r.status == "failed")
    missing = sorted(s.key for s in specs if s.key not in results)
    if missing:
        raise HwnasError(
            f"{len(missing)} of {len(specs)} ops of {preset.space}/{preset.preset} are not measured "
            f"on {device.name} yet ({list_keys(missing)}); fill them with: {fill}"
        )
    if failed:
        reasons = "; ".join(f"{k}: {results[k].error}" for k in failed[:3])
        raise HwnasError(
            f"{len(failed)} op(s) failed to measure on {device.name} ({reasons}); fix the cause "
            f"and retry them with: {fill} --retry-failed"
        )
    rows = []
    for spec in specs:
        m = results[spec.key].measurement
        assert m is not None  # status ok rows carry samples
        rows.append(LatencyTable.row(spec, m.median_ms, m.mean_ms, m.iqr_ms, m.n, m.noisy, m.extra))
    drift = drift_summary(store, device.name, config_id, device.profile.drift_threshold)
    metadata = {
        "device": device.name,
        "device_description": device.description,
        "space": preset.space,
        "preset": preset.preset,
        "config_id": config_id,
        **config,
        "artifact_format": backend.artifact_format,
        "profile_settings": asdict(device.profile),
        "per_inference_overhead_ms": overhead_ms(store, device.name, config_id),
        "drift": drift.as_dict() if drift else None,
        "host": host_info(),
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "hwnas_version": __version__,
    }
    table = LatencyTable.from_rows(rows, metadata)
    wanted = {n.key for n in calibration_networks(preset, device.profile.calibration_networks)}
    networks = [n for n in store.networks(device.name, config_id) if n.key in wanted]  # today's set only
    fitted = calibrate(networks, preset, lambda specs: float(table.costs_ms(specs).sum()), table.overhead_ms)
    table.metadata["network_calibration"] = fitted.as_dict() if fitted else None
    return table
