"""The measurement store: one SQLite database (WAL) that every profiling result is written to as it completes.

Rows are keyed by (device, backend configuration id, op key), so a killed run resumes with nothing lost and
nothing measured twice, and a changed runtime version (a new configuration id) is never mixed with the old.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hwnas.core.errors import HwnasError
from hwnas.core.measurement import DEFAULT_NOISE_THRESHOLD, Measurement

SCHEMA = """
CREATE TABLE IF NOT EXISTS configs (
    device TEXT NOT NULL, config_id TEXT NOT NULL, config_json TEXT NOT NULL, created_at REAL NOT NULL,
    PRIMARY KEY (device, config_id));
CREATE TABLE IF NOT EXISTS measurements (
    device TEXT NOT NULL, config_id TEXT NOT NULL, op_key TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    samples_json TEXT, median_ms REAL, mean_ms REAL, iqr_ms REAL, n INTEGER, noisy INTEGER,
    attempts INTEGER NOT NULL, error TEXT, measured_at REAL NOT NULL,
    PRIMARY KEY (device, config_id, op_key));
CREATE TABLE IF NOT EXISTS calibration_runs (
    device TEXT NOT NULL, config_id TEXT NOT NULL, kind TEXT NOT NULL CHECK (kind IN ('overhead', 'reference')),
    op_key TEXT NOT NULL, median_ms REAL NOT NULL, iqr_ms REAL NOT NULL, n INTEGER NOT NULL,
    measured_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS network_runs (
    device TEXT NOT NULL, config_id TEXT NOT NULL, network_key TEXT NOT NULL, role TEXT NOT NULL,
    description TEXT NOT NULL, samples_json TEXT NOT NULL, median_ms REAL NOT NULL, measured_at REAL NOT NULL,
    rounds INTEGER NOT NULL DEFAULT 1, PRIMARY KEY (device, config_id, network_key));
"""


@dataclass(frozen=True)
class StoredResult:
    op_key: str
    status: str
    measurement: Measurement | None
    attempts: int
    error: str | None
    measured_at: float
    rounds: int = 1  # interleaved rounds whose samples the measurement pools


@dataclass(frozen=True)
class StoredNetwork:
    key: str
    role: str  # "fit" or "validate"
    description: str  # what rebuilds it (an architecture's JSON)
    measurement: Measurement
    rounds: int = 1


class MeasurementStore:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(self.path, timeout=30)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a killed process loses no commit
            self.conn.executescript(SCHEMA)
            columns = {row[1] for row in self.conn.execute("PRAGMA table_info(measurements)")}
            if "rounds" not in columns:  # a store written before measurements came in rounds: each was one
                with self.conn:
                    self.conn.execute("ALTER TABLE measurements ADD COLUMN rounds INTEGER NOT NULL DEFAULT 1")
        except sqlite3.DatabaseError as exc:
            raise HwnasError(f"measurement store {self.path} is unreadable ({exc}); move it aside and re-run") from None

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> MeasurementStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- configurations ---------------------------------------------------------------------------
    def register_config(self, device: str, config_id: str, config: dict[str, Any]) -> None:
        with self.conn:
            self.conn.execute(
                "INSERT OR IGNORE INTO configs VALUES (?, ?, ?, ?)",
                (device, config_id, json.dumps(config, sort_keys=True, default=str), time.time()),
            )

    def configs(self, device: str) -> list[tuple[str, dict[str, Any]]]:
        """(config id, configuration) of every configuration of ``device``, oldest first."""
        rows = self.conn.execute(
            "SELECT config_id, config_json FROM configs WHERE device = ? ORDER BY created_at, rowid", (device,)
        ).fetchall()
        return [(cid, json.loads(blob)) for cid, blob in rows]

    def config(self, device: str, config_id: str) -> dict[str, Any]:
        row = self.conn.execute(
            "SELECT config_json FROM configs WHERE device = ? AND config_id = ?", (device, config_id)
        ).fetchone()
        if row is None:
            raise HwnasError(f"no measurements of device {device!r} with configuration {config_id} in {self.path}")
        return json.loads(row[0])

    # ---- op measurements --------------------------------------------------------------------------
    def put_ok(self, device: str, config_id: str, op_key: str, m: Measurement, attempts: int, rounds: int = 1) -> None:
        with self.conn:
            self.conn.execute(
                "INSERT OR REPLACE INTO measurements (device, config_id, op_key, status, samples_json, median_ms, "
                "mean_ms, iqr_ms, n, noisy, attempts, error, measured_at, rounds) "
                "VALUES (?, ?, ?, 'ok', ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)",
                (
                    device,
                    config_id,
                    op_key,
                    json.dumps(m.to_json()),
                    m.median_ms,
                    m.mean_ms,
                    m.iqr_ms,
                    m.n,
                    int(m.noisy),
                    attempts,
                    time.time(),
                    rounds,
                ),
            )

    def put_failed(self, device: str, config_id: str, op_key: str, error: str, attempts: int = 1) -> None:
        with self.conn:
            self.conn.execute(
                "INSERT OR REPLACE INTO measurements (device, config_id, op_key, status, attempts, error, measured_at) "
                "VALUES (?, ?, ?, 'failed', ?, ?, ?)",
                (device, config_id, op_key, attempts, error, time.time()),
            )

    def results(
        self,
        device: str,
        config_id: str,
        keys: Iterable[str] | None = None,
        noise_threshold: float = DEFAULT_NOISE_THRESHOLD,
    ) -> dict[str, StoredResult]:
        """Stored results; their Measurements judge noise by ``noise_threshold`` (the device's)."""
        rows = self.conn.execute(
            "SELECT op_key, status, samples_json, attempts, error, measured_at, rounds FROM measurements "
            "WHERE device = ? AND config_id = ?",
            (device, config_id),
        ).fetchall()
        wanted = set(keys) if keys is not None else None
        out = {}
        for key, status, samples, attempts, error, at, rounds in rows:
            if wanted is not None and key not in wanted:
                continue
            m = Measurement.from_json(json.loads(samples), noise_threshold) if samples else None
            out[key] = StoredResult(key, status, m, attempts, error, at, rounds)
        return out

    # ---- calibration: per-inference overhead and the drift reference ------------------------------
    def put_calibration(self, device: str, config_id: str, kind: str, op_key: str, m: Measurement) -> None:
        with self.conn:
            self.conn.execute(
                "INSERT INTO calibration_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (device, config_id, kind, op_key, m.median_ms, m.iqr_ms, m.n, time.time()),
            )

    # ---- whole networks measured beside the ops (the table's network calibration) -------------------
    def put_network(
        self, device: str, config_id: str, key: str, role: str, description: str, m: Measurement, rounds: int = 1
    ) -> None:
        with self.conn:
            self.conn.execute(
                "INSERT OR REPLACE INTO network_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (device, config_id, key, role, description, json.dumps(m.to_json()), m.median_ms, time.time(), rounds),
            )

    def networks(self, device: str, config_id: str) -> list[StoredNetwork]:
        """The whole networks measured with this configuration, in the order they were measured."""
        rows = self.conn.execute(
            "SELECT network_key, role, description, samples_json, rounds FROM network_runs WHERE device = ? AND "
            "config_id = ? ORDER BY measured_at, rowid",
            (device, config_id),
        ).fetchall()
        return [StoredNetwork(k, r, d, Measurement.from_json(json.loads(s)), n) for k, r, d, s, n in rows]

    def calibration(self, device: str, config_id: str, kind: str) -> list[tuple[str, float, float]]:
        """(op key, median ms, measured_at) in the order they were measured."""
        return self.conn.execute(
            "SELECT op_key, median_ms, measured_at FROM calibration_runs WHERE device = ? AND config_id = ? "
            "AND kind = ? ORDER BY measured_at, rowid",
            (device, config_id, kind),
        ).fetchall()
