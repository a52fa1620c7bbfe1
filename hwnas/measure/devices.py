"""Device presets: which backend measures, with which options and profiling settings."""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import metadata, resources
from pathlib import Path
from typing import Any

from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt

from hwnas.core.errors import HwnasError, one_line
from hwnas.core.registry import PluginFailure
from hwnas.core.userfiles import Schema, parse_toml, read_text, schema_of, validate

DEVICES_ENV = "HWNAS_DEVICES"
DEVICE_ENTRY_POINTS = "hwnas.devices"


@dataclass(frozen=True)
class ProfileSettings:
    """The ``[<device>.profile]`` table: how each op is measured (checked through its annotations)."""

    warmup: NonNegativeInt = 10
    runs: PositiveInt = 50
    noise_threshold: PositiveFloat = 0.1
    remeasure: NonNegativeInt = 2  # extra attempts for an op whose IQR/median is above the threshold
    reference_every: PositiveInt = 25  # re-measure the reference op after this many ops
    drift_threshold: PositiveFloat = 0.1  # relative change of the reference op that counts as drift
    max_device_faults: PositiveInt = 2  # runs in a row failed by the device (hung, disconnected) that stop a profile
    calibration_networks: NonNegativeInt = 12  # whole networks measured with a space's ops to calibrate its table
    rounds: PositiveInt = 1  # passes over every op and network, in a new order each, pooled: drift touches all alike
    # loads of each whole network per round, pooled: on a shared host a model runs at one speed per load (the same
    # network 0.047 ms in one session, 0.072 ms in the next), and a fit on a dozen networks feels each load's luck
    network_loads: PositiveInt = 1


class _DeviceFile(Schema):
    """One ``[<device>]`` table of a devices file."""

    backend: str = Field(min_length=1)
    description: str = ""
    options: dict[str, Any] = Field(default_factory=dict)
    profile: schema_of(ProfileSettings) = Field(default_factory=dict)  # type: ignore[valid-type]


@dataclass(frozen=True)
class DevicePreset:
    name: str
    backend: str
    description: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    profile: ProfileSettings = field(default_factory=ProfileSettings)
    source: str = "built-in"
    overrides: Mapping[str, Any] = field(default_factory=dict)  # what --host/--serial/--option changed

    def with_overrides(self, overrides: Mapping[str, Any]) -> DevicePreset:
        """The preset with backend options replaced, remembering which (so that a printed hint repeats them)."""
        return replace(self, options={**self.options, **overrides}, overrides={**self.overrides, **overrides})

    def command_options(self) -> str:
        """The user's device options as command-line flags: `` --devices-file F --host H --option k=v``."""
        parts = [f"--devices-file {shlex.quote(self.user_file)}"] if self.user_file else []
        for key, value in self.overrides.items():
            if key in ("host", "serial"):
                parts.append(f"--{key} {shlex.quote(str(value))}")
            else:
                parts.append(f"--option {shlex.quote(f'{key}={_toml_value(value)}')}")
        return "".join(f" {p}" for p in parts)

    @property
    def user_file(self) -> str | None:
        """The user's devices file this preset comes from (None for built-ins and plugins)."""
        return None if self.source.startswith(("built-in", "plugin ")) else self.source


def _parse_file(text: str, source: str) -> dict[str, DevicePreset]:
    data = parse_toml(text, f"device file {source}", "fix the syntax")
    return {name: _parse_preset(name, body, source) for name, body in data.items()}


def _parse_preset(name: str, body: Any, source: str) -> DevicePreset:
    where = f"device {name!r} in {source}"
    if not isinstance(body, dict):
        raise HwnasError(f"{where} must be a table ([{name}]), not a {type(body).__name__}")
    if "backend" not in body:
        raise HwnasError(f'{where} has no backend; add backend = "<name>" (see `hwnas backends`)')
    fix = "see docs/devices.md for the keys of a device preset"
    raw = validate(_DeviceFile, body, where, fix)
    profile = ProfileSettings(**dict(raw.profile))
    return DevicePreset(name, raw.backend, raw.description, dict(raw.options), profile, source)


@dataclass(frozen=True)
class DeviceCatalog:
    """Every preset that loaded, and each plugin whose presets did not."""

    presets: dict[str, DevicePreset]
    broken_plugins: list[PluginFailure]


def load_devices(devices_file: str | os.PathLike | None = None) -> DeviceCatalog:
    """Built-ins, then presets shipped by plugins (entry points), then the user's file. A plugin that fails
    to import or ships a bad file is set aside with its reason; it never hides the other presets."""
    text = resources.files("hwnas.measure").joinpath("devices.toml").read_text()
    presets = _parse_file(text, "built-in devices.toml")
    broken: list[PluginFailure] = []
    for ep in metadata.entry_points(group=DEVICE_ENTRY_POINTS):
        try:
            plugin_text = ep.load()()
            if not isinstance(plugin_text, str):
                raise TypeError(f"{ep.value} returned a {type(plugin_text).__name__}, not TOML text")
            presets.update(_parse_file(plugin_text, f"plugin {ep.name}"))
        except Exception as exc:
            broken.append(PluginFailure.of(ep, one_line(exc)))
    user = devices_file or os.environ.get(DEVICES_ENV)
    if user:
        path = Path(user)
        text = read_text(path, "devices file", "pass a TOML file of device presets to --devices-file")
        presets.update(_parse_file(text, str(path)))
    return DeviceCatalog(presets, broken)


def get_device(name: str, devices_file: str | os.PathLike | None = None) -> DevicePreset:
    catalog = load_devices(devices_file)
    if name not in catalog.presets:
        broken = "; ".join(f.describe() for f in catalog.broken_plugins)
        raise HwnasError(
            f"unknown device {name!r}; known: {', '.join(sorted(catalog.presets))} (see `hwnas devices`)"
            + (f". Presets of broken plugins are missing: {broken}" if broken else "")
        )
    return catalog.presets[name]


def _toml_value(value: Any) -> str:
    """A value as ``--option`` reads it back (TOML: strings quoted, lists and booleans as TOML writes them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))
