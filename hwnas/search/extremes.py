"""The fastest and the slowest architecture of a space under a latency table (``hwnas.space.extremes`` with the
table's op costs). The search uses them to refuse a target the space cannot reach, and ``reference = "largest"``
uses the slowest one as a space's reference.
"""

from __future__ import annotations

from hwnas.lut.table import LatencyTable
from hwnas.space import extremes
from hwnas.space.architecture import Architecture
from hwnas.space.declared import SpacePreset


def extreme_architecture(preset: SpacePreset, table: LatencyTable, slowest: bool = False) -> Architecture:
    """The architecture the table predicts fastest (or slowest)."""
    return extremes.extreme_architecture(preset, table.costs_ms, dearest=slowest)


def latency_range(preset: SpacePreset, table: LatencyTable) -> tuple[float, float]:
    """(fastest, slowest) predicted latency of the space, in ms."""
    fast, slow = (extreme_architecture(preset, table, s) for s in (False, True))
    return table.predict_ms(fast.op_specs(preset)), table.predict_ms(slow.op_specs(preset))
