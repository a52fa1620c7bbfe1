"""Latency lookup tables: build them from the measurement store, save, load, query."""

from hwnas.lut.build import build_table, default_table_path
from hwnas.lut.table import LatencyTable

__all__ = ["LatencyTable", "build_table", "default_table_path"]
