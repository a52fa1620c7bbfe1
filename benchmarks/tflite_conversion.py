"""How fast are a space's ops converted ONNX -> TFLite, and how often does the artifact cache answer instead?

For each worker count, converts every op of a space preset into a fresh cache (ONNX export in this process,
onnx2tf + the check against onnxruntime in kept-alive worker processes), then asks for the same ops again.
Prints ops/min per worker count (the ONNX export included), the failures, and the second pass's cache hit rate.

    python benchmarks/tflite_conversion.py --preset small --workers 1,2
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from hwnas.measure.artifacts import ArtifactCache
from hwnas.space import get_preset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="avatar")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--workers", default="1,2", help="worker counts to compare, e.g. 1,2")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    specs = get_preset(args.space, args.preset).enumerate_ops()
    rows = []
    for workers in (int(w) for w in args.workers.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            cache = ArtifactCache(Path(tmp))
            start = time.perf_counter()
            failures = cache.prepare(specs, "tflite", workers=workers, progress=True)
            cold_s = time.perf_counter() - start
            present = sum(cache.path(s, "tflite").exists() for s in specs)
            start = time.perf_counter()
            cache.prepare(specs, "tflite", workers=workers)
            warm_s = time.perf_counter() - start
        row = {
            "workers": workers,
            "ops": len(specs),
            "failed": len(failures),
            "cold_s": round(cold_s, 1),
            "ops_per_min": round(len(specs) / cold_s * 60, 1),
            "second_pass_s": round(warm_s, 2),
            "second_pass_hit_rate": present / len(specs),
        }
        rows.append(row)
        print(
            f"{args.space}/{args.preset}: {workers} worker(s): {len(specs)} ops in {cold_s:.1f} s = "
            f"{row['ops_per_min']} ops/min, {len(failures)} failed; second pass {warm_s:.2f} s, "
            f"cache hit rate {row['second_pass_hit_rate']:.0%}"
        )
    if len(rows) > 1:
        print(f"speed-up of {rows[-1]['workers']} workers over {rows[0]['workers']}: "
              f"{rows[-1]['ops_per_min'] / rows[0]['ops_per_min']:.2f}x")  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"tflite-conversion-{args.space}-{args.preset}.json"
    path.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
