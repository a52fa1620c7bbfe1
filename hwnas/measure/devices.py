"""Device presets: which backend measures, with which options and profiling settings."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from importlib import metadata, resources
from pathlib import Path
from typing import Any

from hwnas.core.errors import HwnasError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEVICES_ENV = "HWNAS_DEVICES"
DEVICE_ENTRY_POINTS = "hwnas.devices"


@dataclass(frozen=True)
class ProfileSettings:
    warmup: int = 10
    runs: int = 50
    noise_threshold: float = 0.1
    remeasure: int = 2  # extra attempts for an op whose IQR/median is above the threshold
    reference_every: int = 25  # re-measure the reference op after this many ops
    drift_threshold: float = 0.1  # relative change of the reference op that counts as drift

    def __post_init__(self) -> None:
        if self.warmup < 0 or self.runs < 1 or self.remeasure < 0 or self.reference_every < 1:
            raise ValueError("warmup >= 0, runs >= 1, remeasure >= 0 and reference_every >= 1 are required")
        if self.noise_threshold <= 0 or self.drift_threshold <= 0:
            raise ValueError("noise_threshold and drift_threshold must be positive")


@dataclass(frozen=True)
class DevicePreset:
    name: str
    backend: str
    description: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    profile: ProfileSettings = field(default_factory=ProfileSettings)
    source: str = "built-in"


def _parse_file(text: str, source: str) -> dict[str, DevicePreset]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise HwnasError(f"device file {source} is not valid TOML ({exc}); fix the syntax") from None
    presets = {}
    for name, body in data.items():
        presets[name] = _parse_preset(name, body, source)
    return presets


def _parse_preset(name: str, body: Any, source: str) -> DevicePreset:
    where = f"device {name!r} in {source}"
    if not isinstance(body, dict):
        raise HwnasError(f"{where} must be a table ([{name}]), not a {type(body).__name__}")
    unknown = set(body) - {"description", "backend", "options", "profile"}
    if unknown:
        raise HwnasError(
            f"{where} has unknown key(s) {', '.join(sorted(unknown))}; allowed: description, backend, options, profile"
        )
    backend = body.get("backend")
    if not isinstance(backend, str) or not backend:
        raise HwnasError(f'{where} has no backend; add backend = "<name>" (see `hwnas backends`)')
    options = body.get("options", {})
    if not isinstance(options, dict):
        raise HwnasError(f"{where}: options must be a table")
    profile_raw = body.get("profile", {})
    known = {f.name: f.type for f in fields(ProfileSettings)}
    if not isinstance(profile_raw, dict) or set(profile_raw) - set(known):
        bad = sorted(set(profile_raw) - set(known)) if isinstance(profile_raw, dict) else ["<not a table>"]
        raise HwnasError(f"{where}: unknown profile setting(s) {', '.join(bad)}; allowed: {', '.join(known)}")
    for key, value in profile_raw.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise HwnasError(f"{where}: profile.{key} must be a number, not {value!r}")
    try:
        profile = ProfileSettings(**profile_raw)
    except ValueError as exc:
        raise HwnasError(f"{where}: {exc}") from None
    return DevicePreset(
        name=name,
        backend=backend,
        description=str(body.get("description", "")),
        options=dict(options),
        profile=profile,
        source=source,
    )


def load_devices(devices_file: str | os.PathLike | None = None) -> dict[str, DevicePreset]:
    """Built-ins, then presets shipped by plugins (entry points), then the user's file."""
    text = resources.files("hwnas.measure").joinpath("devices.toml").read_text()
    presets = _parse_file(text, "built-in devices.toml")
    for ep in metadata.entry_points(group=DEVICE_ENTRY_POINTS):
        try:
            plugin_text = ep.load()()
        except Exception as exc:  # a broken plugin must not hide the other presets
            print(f"hwnas: warning: device presets of plugin {ep.name!r} failed to load: {exc}", file=sys.stderr)
            continue
        presets.update(_parse_file(plugin_text, f"plugin {ep.name}"))
    user = devices_file or os.environ.get(DEVICES_ENV)
    if user:
        path = Path(user)
        if not path.is_file():
            raise HwnasError(f"devices file {path} does not exist; pass an existing TOML file to --devices-file")
        presets.update(_parse_file(path.read_text(), str(path)))
    return presets


def get_device(name: str, devices_file: str | os.PathLike | None = None) -> DevicePreset:
    presets = load_devices(devices_file)
    if name not in presets:
        raise HwnasError(f"unknown device {name!r}; known: {', '.join(sorted(presets))} (see `hwnas devices`)")
    return presets[name]
