"""Options several commands share, and checks made before any work starts."""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path
from typing import Any

import click

from hwnas.core.errors import HwnasError
from hwnas.core.userfiles import parse_toml

DEFAULT_PRESET = "small"


class PositiveNumber(click.ParamType):
    """A finite number above zero (``nan`` and ``inf``, which float() accepts, are refused)."""

    name = "number"

    def __init__(self, allow_zero: bool = False):
        self.allow_zero = allow_zero

    def convert(self, value, param, ctx) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number) or number < 0 or (number == 0 and not self.allow_zero):
            self.fail(f"{value!r} must be a finite number {'>= 0' if self.allow_zero else '> 0'}", param, ctx)
        return number


def folder_option(name: str, env: str, default: str, help: str):
    """A folder option whose default an environment variable can change."""
    return click.option(
        name,
        type=click.Path(file_okay=False, path_type=Path),
        default=lambda: os.environ.get(env, default),
        show_default=f"{default} (or ${env})",
        help=help,
    )


lut_dir_option = folder_option(
    "--lut-dir", "HWNAS_LUT_DIR", "lut", "Where latency tables live: <lut-dir>/<device>/<space>-<preset>.csv."
)
workdir_option = folder_option(
    "--workdir",
    "HWNAS_WORKDIR",
    ".hwnas",
    "Where the measurement store (measurements.sqlite) and the exported op artifacts live.",
)


def choice_option(name: str, choices: tuple[str, ...], help: str, dest: str | None = None):
    """One of ``choices``, the first by default."""
    names = (name, dest) if dest else (name,)
    return click.option(*names, type=click.Choice(choices), default=choices[0], show_default=True, help=help)


def path_option(name: str, help: str, dest: str | None = None, file: bool = False):
    """An optional file (``file``) or folder path."""
    kind = click.Path(dir_okay=False, path_type=Path) if file else click.Path(file_okay=False, path_type=Path)
    return click.option(*((name, dest) if dest else (name,)), type=kind, default=None, help=help)


def devices_file_option(f):
    return click.option(
        "--devices-file",
        type=click.Path(path_type=Path),
        default=None,
        help="Extra device presets (TOML); also read from $HWNAS_DEVICES.",
    )(f)


def parse_backend_options(host: str | None, serial: str | None, pairs: tuple[str, ...]) -> dict[str, Any]:
    """``--host``, ``--serial`` and ``--option KEY=VALUE`` (VALUE read as TOML: 4, true, ["a", "b"]; else text)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise HwnasError(f"--option takes KEY=VALUE (e.g. --option num_threads=4), not {pair!r}")
        try:
            out[key.strip()] = parse_toml(f"v = {value}", "--option", "")["v"]
        except HwnasError:  # not a TOML value: the text itself
            out[key.strip()] = value
    out.update({k: v for k, v in (("host", host), ("serial", serial)) if v})
    return out


def device_options(f):
    """--device and --devices-file, plus --host/--serial/--option, which reach the command as
    ``device_overrides`` (backend options that replace the preset's)."""

    @functools.wraps(f)
    def command(*args, host, serial, backend_options, **kwargs):
        return f(*args, device_overrides=parse_backend_options(host, serial, backend_options), **kwargs)

    command = click.option(
        "--option",
        "backend_options",
        multiple=True,
        metavar="KEY=VALUE",
        help="Set a backend option of the device preset, e.g. --option binary=./benchmark_model (repeatable).",
    )(command)
    command = click.option("--serial", default=None, help="USB serial of an Android device (adb-tflite).")(command)
    command = click.option(
        "--host", default=None, help="ip:port of an Android device in TCP mode, after `adb tcpip 5555` (adb-tflite)."
    )(command)
    command = devices_file_option(command)
    return click.option(
        "--device", "device_name", required=True, help="Device preset to measure on (see `hwnas devices`)."
    )(command)


def space_options(required: bool):
    def decorate(f):
        f = click.option(
            "--preset",
            default=DEFAULT_PRESET,
            show_default=True,
            help="Search-space preset: tiny (tests), small (CPU default), paper (192 px views).",
        )(f)
        return click.option(
            "--space",
            required=required,
            help="Search space name (see `hwnas spaces`) or a path to a .toml declaration.",
        )(f)

    return decorate


def torch_device_option(f):
    return click.option(
        "--torch-device", default="cpu", show_default=True, help="Where to train: cpu, cuda, cuda:1, ..."
    )(f)


def progress_option(f):
    return click.option("--progress/--no-progress", default=True, show_default=True, help="Show progress bars.")(f)


def task_option(f):
    return click.option(
        "--task-option",
        "task_options",
        multiple=True,
        metavar="KEY=VALUE",
        help="An option of the space's task, repeatable (VALUE read as JSON where it is: 0.1, false); "
        "recorded in the run folder, which it binds. `hwnas spaces` lists each task's options; a wrong key or "
        "value is refused with them.",
    )(f)


def check_torch_device(name: str) -> None:
    import torch

    try:
        device = torch.device(name)
    except RuntimeError:
        raise HwnasError(f"--torch-device {name!r} is not a torch device; use cpu, cuda or cuda:<index>") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise HwnasError(f"--torch-device {name}: CUDA is not available on this machine; use --torch-device cpu")
