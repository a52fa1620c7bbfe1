"""LatencyTable: per-op latency lookup table (CSV, optional parquet) with a metadata JSON sidecar. No pickle."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ConfigDict, NonNegativeFloat, PositiveFloat

from hwnas.core.errors import HwnasError, MissingOpsError, list_keys
from hwnas.core.files import staging_path, unwritable
from hwnas.core.userfiles import Schema, parse_json, read_text, validate
from hwnas.lut.network_calibration import NetworkCalibration
from hwnas.ops import OpKeyError, OpSpec

SCHEMA_VERSION = 1
SPEC_COLUMNS = ["op", "cin", "cout", "kernel", "stride", "expansion", "h", "w", "batch", "dtype"]
STAT_COLUMNS = ["median_ms", "mean_ms", "iqr_ms", "n", "noisy"]
COLUMNS = ["key", *SPEC_COLUMNS, *STAT_COLUMNS, "flops", "params"]
# what a device's tool said besides times (empty where it said nothing; tables built before them lack them)
EXTRA_COLUMNS = {"placement": "", "peak_memory_mb": float("nan")}
TIME_COLUMNS = ["median_ms", "mean_ms", "iqr_ms"]
NO_CALIBRATION = "network calibration: none (no whole networks were measured with the ops; profile again for them)"


def table_paths(csv_path: Path) -> tuple[Path, Path, Path]:
    """(CSV, metadata JSON, parquet) of one table."""
    csv_path = Path(csv_path)
    return csv_path, csv_path.with_suffix(".json"), csv_path.with_suffix(".parquet")


class _Calibration(Schema):
    """What the prediction takes of a table's network calibration (the rest: its networks and validation)."""

    model_config = ConfigDict(extra="allow")
    scale: PositiveFloat
    offset_ms: float  # negative where isolated ops pay what a network does not
    applied: bool = True  # False: no better than the overhead paid once on the held-out networks


class TableMetadata(Schema):
    """What a table's sidecar must say for hwnas to use it; the rest (host, drift, versions) is kept as is."""

    model_config = ConfigDict(extra="allow")
    device: str
    space: str
    preset: str
    per_inference_overhead_ms: NonNegativeFloat | None = None
    network_calibration: _Calibration | None = None


@dataclass
class LatencyTable:
    frame: pd.DataFrame  # indexed by op key
    metadata: dict[str, Any]

    # ---- construction -----------------------------------------------------------------------------
    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any]], metadata: dict[str, Any]) -> LatencyTable:
        frame = pd.DataFrame(list(rows), columns=[*COLUMNS, *EXTRA_COLUMNS]).sort_values("key").set_index("key")
        return cls(frame, {"schema_version": SCHEMA_VERSION, **metadata, "n_ops": len(frame)})

    @staticmethod
    def row(
        spec: OpSpec,
        median_ms: float,
        mean_ms: float,
        iqr_ms: float,
        n: int,
        noisy: bool,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        extra = extra or {}
        return {
            **{c: extra.get(c, default) for c, default in EXTRA_COLUMNS.items()},
            "key": spec.key,
            **{c: getattr(spec, c) for c in SPEC_COLUMNS},
            "median_ms": median_ms,
            "mean_ms": mean_ms,
            "iqr_ms": iqr_ms,
            "n": n,
            "noisy": bool(noisy),
            "flops": spec.flops,
            "params": spec.params,
        }

    # ---- persistence ------------------------------------------------------------------------------
    def save(self, csv_path: Path) -> list[Path]:
        """Write CSV + JSON (+ parquet when pyarrow is installed); temporary files renamed at the end."""
        csv_path, json_path, parquet_path = table_paths(csv_path)
        staged: list[tuple[Path, Path]] = []
        try:
            csv_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = staging_path(csv_path)
            self.frame.reset_index().to_csv(tmp, index=False, float_format="%.6g")
            staged.append((tmp, csv_path))
            tmp = staging_path(json_path)
            tmp.write_text(json.dumps(self.metadata, indent=2, sort_keys=True, default=str, allow_nan=False) + "\n")
            staged.append((tmp, json_path))
            if _has_pyarrow():
                tmp = staging_path(parquet_path)
                self.frame.reset_index().to_parquet(tmp, index=False)
                staged.append((tmp, parquet_path))
            for tmp, final in staged:
                os.replace(tmp, final)
        except BaseException as exc:
            for tmp, _ in staged:
                tmp.unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise unwritable(csv_path, exc) from None
            raise
        return [final for _, final in staged]

    @classmethod
    def load(cls, path: Path) -> LatencyTable:
        path = Path(path)
        if not path.is_file():
            raise HwnasError(f"latency table {path} does not exist; build it with `hwnas build-lut`")
        csv_path, json_path, _ = table_paths(path)
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
        else:
            try:
                frame = pd.read_csv(csv_path, dtype={"key": str, "op": str, "dtype": str})
            except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
                raise HwnasError(f"latency table {path} is not a readable CSV ({exc})") from None
        if not json_path.is_file():
            raise HwnasError(
                f"latency table {path} has no metadata sidecar {json_path.name}; rebuild it with `hwnas build-lut`"
            )
        fix = "rebuild the table with `hwnas build-lut`"
        where = f"metadata {json_path}"
        metadata = parse_json(read_text(json_path, "metadata", fix), where, fix)
        validate(TableMetadata, metadata, where, fix)
        return cls(_validated(frame, path), metadata)

    # ---- queries ----------------------------------------------------------------------------------
    @property
    def keys(self) -> set[str]:
        return set(self.frame.index)

    def fill_command(self) -> str:
        m = self.metadata
        if {"device", "space", "preset"} <= set(m):
            return (
                f"hwnas profile --device {m['device']} --space {m['space']} --preset {m['preset']} && "
                f"hwnas build-lut --device {m['device']} --space {m['space']} --preset {m['preset']}"
            )
        return "hwnas profile --device <device> --space <space> && hwnas build-lut ..."

    def require(self, keys: Iterable[str], fill_command: str | None = None) -> None:
        """Refuse, naming them and the command that measures them, when keys are absent."""
        missing = sorted(set(keys) - self.keys)
        if missing:
            raise MissingOpsError(missing, fill_command or self.fill_command())

    def latency_ms(self, keys: Iterable[str | OpSpec]) -> np.ndarray:
        """Median latency of each key, in order; raises MissingOpsError naming every absent key."""
        names = [k.key if isinstance(k, OpSpec) else k for k in keys]
        self.require(names)
        return self.frame.loc[names, "median_ms"].to_numpy(dtype=float)

    @property
    def overhead_ms(self) -> float:
        """The per-inference overhead every isolated run pays, as measured on the identity model."""
        return float(self.metadata.get("per_inference_overhead_ms") or 0.0)

    @property
    def network_calibration(self) -> NetworkCalibration | None:
        """The fit on whole networks measured with the ops (None: the table was built without them)."""
        data = self.metadata.get("network_calibration")
        return NetworkCalibration.from_dict(data) if data else None

    @property
    def fixed_ms(self) -> float:
        """What a network pays once, whatever its ops: the calibration's offset, else the per-inference overhead."""
        data = self._applied_calibration()
        return float(data["offset_ms"]) if data else self.overhead_ms

    def costs_ms(self, keys: Iterable[str | OpSpec], calibrated: bool = True) -> np.ndarray:
        """Each op's own cost inside a network: its median less the per-inference overhead, never below zero
        (an op cannot cost less than nothing, though a tiny one can measure below the identity model), times the
        network calibration's scale; uncalibrated, its median."""
        lat = self.latency_ms(keys)
        if not calibrated:
            return lat
        data = self._applied_calibration()
        return np.maximum(lat - self.overhead_ms, 0.0) * (float(data["scale"]) if data else 1.0)

    def _applied_calibration(self) -> dict[str, Any] | None:
        data = self.metadata.get("network_calibration")
        return data if data and data.get("applied", True) else None

    def predict_ms(self, specs: Iterable[OpSpec], calibrated: bool = True) -> float:
        """A network pays ``fixed_ms`` once plus each op's cost; uncalibrated, the plain sum of medians."""
        specs = list(specs)
        if not specs:
            return 0.0
        return float(self.costs_ms(specs, calibrated).sum() + (self.fixed_ms if calibrated else 0.0))

    def without_network_calibration(self) -> LatencyTable:
        """The same table predicting as if no whole network had been measured (overhead paid once)."""
        return LatencyTable(self.frame, {**self.metadata, "network_calibration": None})

    def summary(self) -> list[str]:
        m, f = self.metadata, self.frame
        lines = [
            f"device {m.get('device')}  backend {m.get('backend')}  space {m.get('space')}/{m.get('preset')}",
            f"{len(f)} ops; median latency per op: min {f.median_ms.min():.4f} ms, median "
            f"{f.median_ms.median():.4f} ms, max {f.median_ms.max():.4f} ms; {int(f.noisy.sum())} noisy",
            f"per-inference overhead {_ms(m.get('per_inference_overhead_ms'))}; built {m.get('built_at')} "
            f"on {m.get('host', {}).get('node', '?')}",
        ]
        calibration = self.network_calibration
        lines += calibration.describe() if calibration else [NO_CALIBRATION]
        lines += _extra_lines(f)
        for op, group in f.groupby("op"):
            lines.append(f"  {op:8s} {len(group):5d} ops  total {group.median_ms.sum():9.3f} ms")
        return lines

    def diff(self, other: LatencyTable) -> pd.DataFrame:
        """Per-key medians of both tables and their ratio (other / self); keys in only one have NaN."""
        a = self.frame[["median_ms"]].rename(columns={"median_ms": "median_ms_a"})
        joined = a.join(other.frame[["median_ms"]].rename(columns={"median_ms": "median_ms_b"}), how="outer")
        joined["ratio"] = joined["median_ms_b"] / joined["median_ms_a"]
        return joined


def _validated(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise HwnasError(
            f"latency table {path} lacks column(s) {', '.join(missing)}; rebuild it with `hwnas build-lut`"
        )
    if frame.empty:
        raise HwnasError(f"latency table {path} has no rows; rebuild it with `hwnas build-lut`")
    numeric = [*TIME_COLUMNS, "n"]
    values = frame[numeric].apply(pd.to_numeric, errors="coerce")
    bad = values.isna().any(axis=1)
    if bad.any():
        raise HwnasError(
            f"latency table {path} has missing or non-numeric times for "
            f"{list_keys(list(frame.key[bad]))}; re-profile those ops and rebuild"
        )
    negative = (values[TIME_COLUMNS] < 0).any(axis=1) | (values["n"] < 1)
    if negative.any():
        raise HwnasError(
            f"latency table {path} has negative times or n < 1 for {list_keys(list(frame.key[negative]))}; "
            "re-profile those ops and rebuild"
        )
    duplicated = frame.key.duplicated()
    if duplicated.any():
        raise HwnasError(f"latency table {path} lists {list_keys(list(frame.key[duplicated]))} twice; rebuild it")
    for key in frame.key:
        try:
            if OpSpec.parse(key).key != key:
                raise OpKeyError(f"{key!r} is not canonical (expected {OpSpec.parse(key).key!r})")
        except OpKeyError as exc:
            raise HwnasError(f"latency table {path}: {exc}") from None
    frame = frame.copy()
    frame[numeric] = values
    if "placement" in frame.columns:  # an all-empty text column reads back from CSV as floats (NaN)
        frame["placement"] = frame["placement"].astype(object).where(frame["placement"].notna(), "").astype(str)
    else:
        frame["placement"] = ""
    memory = frame["peak_memory_mb"] if "peak_memory_mb" in frame.columns else np.nan
    frame["peak_memory_mb"] = pd.to_numeric(memory, errors="coerce")
    frame["noisy"] = frame["noisy"].astype(str).str.lower().isin(["true", "1"])
    return frame.set_index("key")


def _has_pyarrow() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def _ms(value: float | None) -> str:
    return "not measured (its calibration failed; re-run profile)" if value is None else f"{value} ms"


def _extra_lines(frame: pd.DataFrame) -> list[str]:
    """Where the delegate put the ops (whole, part, none) and their peak memory, where the tool said so."""
    lines = []
    placed = frame.placement[frame.placement.astype(str) != ""].astype(str)
    if len(placed):
        counts = placed.str.extract(r"(\d+)/(\d+) nodes").astype(float)
        whole = (counts[0] == counts[1]) | placed.str.endswith(" all")
        partly = ~whole & ~placed.str.endswith(" none") & ~(counts[0] == 0)
        named = ", ".join(list(placed.index[partly])[:3])
        lines.append(
            f"placement: {int(whole.sum())} of {len(frame)} ops wholly on the delegate, {int(partly.sum())} partly"
            + (f" ({named}{', ...' if partly.sum() > 3 else ''})" if partly.any() else "")
        )
    memory = frame.peak_memory_mb.dropna()
    if len(memory):
        lines.append(
            f"peak memory per op: min {memory.min():.2f} MB, median {memory.median():.2f} MB, "
            f"max {memory.max():.2f} MB ({len(memory)} ops)"
        )
    return lines
