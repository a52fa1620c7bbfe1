"""Backend registry: built-ins plus plugins registered under the entry-point group ``hwnas.backends``."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata

from hwnas.core.errors import HwnasError
from hwnas.core.registry import load_target
from hwnas.measure.backends.base import ARTIFACT_FORMATS, Backend

ENTRY_POINT_GROUP = "hwnas.backends"
BUILTINS = {
    "onnxruntime": "hwnas.measure.backends.ort:OnnxRuntimeBackend",
    "litert": "hwnas.measure.backends.litert:LiteRTBackend",
    "adb-tflite": "hwnas.measure.backends.adb_tflite:AdbTFLiteBackend",
}


@dataclass(frozen=True)
class BackendEntry:
    name: str
    target: str  # "module:Class"
    source: str  # "built-in" or the distribution that ships the plugin
    cls: type[Backend] | None = None
    load_error: str | None = None


def _load(name: str, target: str, source: str, loader) -> BackendEntry:
    try:
        cls = loader()
        if not (isinstance(cls, type) and issubclass(cls, Backend)):
            raise TypeError(f"{target} is not a subclass of hwnas.measure.backends.base.Backend")
        if getattr(cls, "artifact_format", None) not in ARTIFACT_FORMATS:
            raise TypeError(f"{target}.artifact_format must be one of {ARTIFACT_FORMATS}")
    except Exception as exc:  # a broken plugin is reported, never fatal to the others
        return BackendEntry(name, target, source, load_error=f"{type(exc).__name__}: {exc}")
    return BackendEntry(name, target, source, cls=cls)


def discover() -> dict[str, BackendEntry]:
    entries: dict[str, BackendEntry] = {}
    for name, target in BUILTINS.items():
        entries[name] = _load(name, target, "built-in", lambda t=target: load_target(t))
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.value in BUILTINS.values():
            continue  # hwnas's own registration of a built-in
        source = ep.dist.name if ep.dist else "plugin"
        entries[ep.name] = _load(ep.name, ep.value, source, ep.load)
    return entries


def create(name: str, options=None) -> Backend:
    entries = discover()
    if name not in entries:
        raise HwnasError(f"unknown backend {name!r}; known: {', '.join(sorted(entries))} (see `hwnas backends`)")
    entry = entries[name]
    if entry.cls is None:
        raise HwnasError(f"backend {name!r} ({entry.source}) failed to load: {entry.load_error}")
    backend = entry.cls(options)
    backend.name = name  # the registered (entry-point) name is the backend's name, whatever the class says
    return backend
