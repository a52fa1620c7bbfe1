"""The conformance kit of backend plugins: ``check_backend("my-backend")`` (see ``hwnas.testing``)."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from hwnas.core.errors import BackendUnavailable, HwnasError
from hwnas.core.measurement import Measurement
from hwnas.measure import backends
from hwnas.measure.artifacts import ArtifactCache, export_onnx
from hwnas.measure.backends.base import ARTIFACT_FORMATS, Backend
from hwnas.measure.devices import DevicePreset, ProfileSettings
from hwnas.measure.worker import measure_in_fresh_process
from hwnas.ops import OpSpec
from hwnas.testing.kit import run_checks

WARMUP, RUNS = 2, 5


@dataclass
class _Kit:
    """What the checks share: the backend's registered name, options, and a folder for artifacts."""

    name: str
    options: dict[str, Any]
    invalid_options: Sequence[Mapping[str, Any]]
    folder: Path

    def backend(self) -> Backend:
        return backends.create(self.name, self.options)

    def single_input_artifact(self) -> Path:
        backend = self.backend()
        spec = OpSpec("conv", 4, 8, kernel=3, stride=1, h=8, w=8)
        return ArtifactCache(self.folder).get(spec, backend.artifact_format, backend.precision)

    def multi_input_artifact(self) -> Path:
        backend = self.backend()
        onnx_path = export_onnx(_TwoInputs(), {"a": (1, 4, 8, 8), "b": (1, 4, 8, 8)}, self.folder / "two.onnx")
        if backend.artifact_format == "onnx":
            return onnx_path
        from hwnas.measure.tflite import onnx_to_tflite

        return onnx_to_tflite(onnx_path, self.folder / "two.tflite", backend.precision)


class _TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, a, b):
        return self.conv(a) + b


def check_backend(
    name: str, options: Mapping[str, Any] | None = None, invalid_options: Sequence[Mapping[str, Any]] = ()
) -> list[str]:
    """Run every check on the backend registered as ``name`` (its entry-point name) built with ``options``;
    ``invalid_options`` are option sets the backend must refuse with an HwnasError. Returns the names of the
    checks that passed; raises AssertionError naming each one that failed and why."""
    with tempfile.TemporaryDirectory(prefix="hwnas-conformance-") as tmp:
        return run_checks(f"backend {name!r}", CHECKS, _Kit(name, dict(options or {}), invalid_options, Path(tmp)))


def check_registered(kit: _Kit) -> None:
    """Found under its name in the ``hwnas.backends`` entry points (a fresh process finds it only so), its
    class a Backend with an artifact format hwnas exports."""
    entries = backends.discover()
    assert kit.name in entries, f"no backend registered as {kit.name!r}; known: {', '.join(sorted(entries))}"
    entry = entries[kit.name]
    assert entry.cls is not None, f"the entry point fails to load: {entry.load_error}"
    assert entry.cls.artifact_format in ARTIFACT_FORMATS, f"artifact_format must be one of {ARTIFACT_FORMATS}"


def check_defaults(kit: _Kit) -> None:
    """Built with no options it has its declared defaults, which are plain TOML/JSON values."""
    cls = backends.discover()[kit.name].cls
    backend = cls()
    assert dict(backend.options) == dict(cls.option_defaults), "options without arguments differ from option_defaults"
    json.dumps(dict(cls.option_defaults))  # a device file (TOML) and the store (JSON) must be able to hold them


def check_option_validation(kit: _Kit) -> None:
    """An unknown option, and each of the given invalid option sets, is refused with an HwnasError."""
    for bad in [{"no_such_option_for_conformance": 1}, *kit.invalid_options]:
        try:
            backends.create(kit.name, {**kit.options, **bad})
        except HwnasError:
            continue
        raise AssertionError(f"options {bad} were accepted; refuse them in __init__ with an HwnasError")


def check_available(kit: _Kit) -> None:
    """``check()`` passes here (the rest measures); a backend that cannot run raises BackendUnavailable."""
    try:
        kit.backend().check()
    except BackendUnavailable as exc:
        raise AssertionError(f"check() says the backend cannot run here, so nothing can be measured: {exc}") from None


def check_versions(kit: _Kit) -> None:
    """``versions()`` is a non-empty {str: str} that does not change between calls or instances."""
    first, second = kit.backend().versions(), kit.backend().versions()
    assert first, "versions() is empty: a runtime upgrade would mix old and new numbers in one table"
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in first.items()), "versions() must map str to str"
    assert first == second, f"versions() changed between two instances: {first} vs {second}"


def check_config_id(kit: _Kit) -> None:
    """The same options give the same ``config_id()``; the registered name is the backend's name."""
    a, b = kit.backend(), kit.backend()
    assert a.config_id() == b.config_id(), "config_id() differs between two instances with the same options"
    assert a.name == kit.name and a.config()["backend"] == kit.name, "config() must carry the registered name"


def check_single_input(kit: _Kit) -> None:
    """One op exported as hwnas exports ops (static shapes, one input named ``input``) measures to ``runs``
    finite, non-negative times."""
    _check_measurement(kit.backend().measure(kit.single_input_artifact(), WARMUP, RUNS))


def check_multi_input(kit: _Kit) -> None:
    """A model with two inputs (whole networks have one per view) measures too."""
    _check_measurement(kit.backend().measure(kit.multi_input_artifact(), WARMUP, RUNS))


def check_silent_stdout(kit: _Kit) -> None:
    """Measuring writes nothing to standard output (Python's, and file descriptor 1, so native code counts
    too): the CLI's output is the user's."""
    backend, artifact = kit.backend(), kit.single_input_artifact()
    python_out = io.StringIO()
    with tempfile.TemporaryFile() as native_out:
        sys.stdout.flush()
        saved = os.dup(1)
        os.dup2(native_out.fileno(), 1)
        try:
            with contextlib.redirect_stdout(python_out):
                backend.measure(artifact, WARMUP, RUNS)
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        native_out.seek(0)
        written = python_out.getvalue() + native_out.read().decode(errors="replace")
    assert not written, f"measure() wrote to stdout: {written[:120]!r}"


def check_fresh_process(kit: _Kit) -> None:
    """Rebuilt from its name and options in a fresh Python process (how hwnas measures whole networks after
    training), it measures the same artifact."""
    device = DevicePreset("conformance", kit.name, options=kit.options, profile=ProfileSettings(WARMUP, RUNS))
    _check_measurement(measure_in_fresh_process(kit.backend(), device, kit.single_input_artifact()))


def _check_measurement(m: Measurement) -> None:
    assert m.n == RUNS, f"{m.n} runs measured, {RUNS} asked for"
    assert math.isfinite(m.median_ms) and m.median_ms >= 0, f"median {m.median_ms} ms is not a time"


CHECKS: list[Callable[[_Kit], None]] = [
    check_registered,
    check_defaults,
    check_option_validation,
    check_available,
    check_versions,
    check_config_id,
    check_single_input,
    check_multi_input,
    check_silent_stdout,
    check_fresh_process,
]
