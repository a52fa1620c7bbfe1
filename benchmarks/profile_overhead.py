"""How much of LUT-building time is spent in the timed runs themselves?

Profiles every op of a search-space preset into a fresh measurement store and artifact cache (so exports
are included), builds the table, and prints: unique ops, LUT-build wall time, the summed time of all timed
runs (re-measures and calibration runs included), their ratio, and ops per second.

    python benchmarks/profile_overhead.py --preset tiny
    python benchmarks/profile_overhead.py --preset small --device cpu
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from hwnas.artifacts import ArtifactCache
from hwnas.backends import create
from hwnas.devices import get_device
from hwnas.lut import build_table
from hwnas.profiler import Profiler
from hwnas.searchspaces import get_preset
from hwnas.store import MeasurementStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="avatar")
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    device = get_device(args.device)
    backend = create(device.backend, device.options)
    preset = get_preset(args.space, args.preset)
    specs = preset.enumerate_ops()
    with tempfile.TemporaryDirectory() as tmp, MeasurementStore(Path(tmp) / "m.sqlite") as store:
        start = time.perf_counter()
        report = Profiler(device, backend, store, ArtifactCache(Path(tmp) / "artifacts")).run(specs, progress=False)
        table = build_table(store, device, backend, preset)
        table.save(Path(tmp) / "lut.csv")
        wall = time.perf_counter() - start
    timed = report.timed_ms / 1e3
    print(
        f"space {args.space}/{args.preset} on {args.device} ({backend.name}, {device.profile.warmup} warm-up + "
        f"{device.profile.runs} timed runs per op)"
    )
    print(f"unique ops            {len(specs)}")
    print(f"LUT-build wall time   {wall:.2f} s")
    print(f"timed runs, summed    {timed:.3f} s")
    print(f"wall / timed          {wall / timed:.1f}x")
    print(f"ops per second        {len(specs) / wall:.1f}")
    print(f"noisy after re-measure {len(report.noisy)}; failed {len(report.failed)}")


if __name__ == "__main__":
    main()
