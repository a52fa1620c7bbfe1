"""The backend plugin interface: turn an artifact (.onnx or .tflite) into a Measurement."""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from hwnas.core.errors import HwnasError
from hwnas.core.measurement import DEFAULT_NOISE_THRESHOLD, Measurement

ARTIFACT_FORMATS = ("onnx", "tflite")


class Backend(ABC):
    """Subclass this, set ``name``, ``artifact_format`` and ``option_defaults``, implement three methods,
    and register the class under the entry-point group ``hwnas.backends``."""

    name: ClassVar[str]
    artifact_format: ClassVar[str]
    option_defaults: ClassVar[Mapping[str, Any]] = {}
    # True where versions() must reach the device (a phone over adb): build-lut then takes the versions from the
    # configuration the store recorded when the ops were measured, and never connects
    versions_need_device: ClassVar[bool] = False

    def __init__(self, options: Mapping[str, Any] | None = None):
        options = dict(options or {})
        unknown = set(options) - set(self.option_defaults)
        if unknown:
            allowed = ", ".join(sorted(self.option_defaults)) or "none"
            raise HwnasError(f"backend {self.name!r} has no option(s) {', '.join(sorted(unknown))}; allowed: {allowed}")
        self.options = {**self.option_defaults, **options}

    @property
    def precision(self) -> str:
        """Precision of the artifacts this backend measures: its ``precision`` option where it has one
        (TFLite backends: float32 or float16), else float32."""
        return str(self.options.get("precision", "float32"))

    @abstractmethod
    def check(self) -> None:
        """Cheap availability check; raise BackendUnavailable with the fix when this backend cannot run."""

    @abstractmethod
    def versions(self) -> dict[str, str]:
        """Versions of the runtime (and converter, device firmware, ...) that produce the numbers."""

    @abstractmethod
    def time_runs(self, artifact: Path, warmup: int, runs: int) -> Sequence[float]:
        """Run the artifact ``warmup`` times untimed, then ``runs`` times; return ms per timed run."""

    def diagnose(self) -> list[tuple[str, bool, str]]:
        """(check, passed, detail or fix) for ``hwnas doctor``; backends with more to check extend it."""
        try:
            self.check()
            return [("runtime available", True, ", ".join(f"{k} {v}" for k, v in self.versions().items()))]
        except Exception as exc:
            return [("runtime available", False, str(exc))]

    def measure(
        self, artifact: Path, warmup: int, runs: int, noise_threshold: float = DEFAULT_NOISE_THRESHOLD
    ) -> Measurement:
        samples = list(self.time_runs(artifact, warmup, runs))
        if len(samples) != runs:
            raise RuntimeError(f"backend {self.name} returned {len(samples)} samples for {runs} runs")
        return Measurement.from_samples(samples, noise_threshold)

    def identity(self) -> dict[str, Any]:
        """Backend and the options that change what is measured (not how the device is reached)."""
        return {"backend": self.name, "options": self.options}

    def config(self) -> dict[str, Any]:
        """Everything that makes two measurements comparable: backend, options and tool versions."""
        return {**self.identity(), "versions": self.versions()}

    def config_id(self) -> str:
        blob = json.dumps(self.config(), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]
