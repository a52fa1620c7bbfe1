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

from hwnas.space import get_preset
from hwnas.workflows.tables import open_device, profile_space, table_from_store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="avatar")
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    device, backend = open_device(args.device)
    preset = get_preset(args.space, args.preset)
    specs = preset.enumerate_ops()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        report = profile_space(device, backend, preset, Path(tmp), progress=False)
        table_from_store(device, backend, preset, Path(tmp)).save(Path(tmp) / "lut.csv")
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
