"""Does the latency table predict whole networks? Random architectures, predicted vs measured end to end.

Samples N random architectures of a space preset, predicts each from the device's LatencyTable (calibrated on
the whole networks measured with its ops; with only the per-inference overhead paid once; as the plain sum of
medians), exports each and measures it end to end with the same backend and profile settings — in the device's
rounds, beside the table's own calibration networks measured again (their time now against their time in the
profile is the host's change of speed since; 'at host speed' scales the predictions by it) — and prints the
share within +-10%, the Spearman rank correlation, the mean absolute percentage error and the bias (mean signed
error), over all networks and over each third of them by measured latency; writes the pairs as CSV and a
scatter PNG.

    python benchmarks/lut_fidelity.py --preset small --n 30
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import random
import statistics
import time
from pathlib import Path

from tqdm import tqdm

from hwnas.core.measurement import Measurement
from hwnas.core.plots import scatter_predicted_measured
from hwnas.deploy.endtoend import LatencyCheck, check_architecture
from hwnas.lut.fidelity import fidelity_by_bin
from hwnas.lut.network_calibration import calibration_networks
from hwnas.measure.artifacts import ArtifactCache
from hwnas.measure.worker import measure_in_fresh_process
from hwnas.space import get_preset
from hwnas.space.architecture import Architecture
from hwnas.workflows.tables import ensure_table, open_device


def sampled_networks_parser(description: str, device: str, n: int, out: str) -> argparse.ArgumentParser:
    """The options of a benchmark over random networks of a space preset on one device's table."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--space", default="avatar")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--device", default=device)
    parser.add_argument("--devices-file", type=Path, default=None, help="extra device presets (TOML)")
    parser.add_argument("--n", type=int, default=n, help="random architectures")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=Path(".hwnas"))
    parser.add_argument("--lut-dir", type=Path, default=Path("lut"))
    parser.add_argument("--out", type=Path, default=Path(out))
    return parser


def device_table(args: argparse.Namespace):
    """(device, backend, preset, table) of the parsed options; the table profiled and built when missing."""
    device, backend = open_device(args.device, args.devices_file)
    preset = get_preset(args.space, args.preset)
    table, _ = ensure_table(device, backend, preset, args.workdir, args.lut_dir)
    return device, backend, preset, table


def main() -> None:
    parser = sampled_networks_parser(__doc__.splitlines()[0], "cpu", 30, "benchmarks/out")
    parser.add_argument("--rounds", type=int, default=0, help="measurements of each network, pooled (default: the "
                        "device's profile rounds)")  # fmt: skip
    args = parser.parse_args()
    device, backend, preset, table = device_table(args)
    rng = random.Random(args.seed)
    overhead_only = table.without_network_calibration()
    archs = [Architecture.sample(preset, rng) for _ in range(args.n)]
    rounds = args.rounds or device.profile.rounds
    device = dataclasses.replace(device, profile=dataclasses.replace(device.profile, rounds=1))  # rounds: below
    checks: dict[int, LatencyCheck] = {}
    refs = reference_networks(table, preset, device, backend, args.workdir)
    again: dict[str, Measurement] = {}  # the table's calibration networks, measured again beside the checks
    start = time.perf_counter()
    with tqdm(total=(args.n + len(refs)) * rounds, desc="architectures", unit="net") as bar:
        for r in range(rounds):  # the table's protocol: rounds over all networks, in a new order each, pooled
            order: list[int | str] = [*range(args.n), *refs]
            if r:
                random.Random(r).shuffle(order)
            for i in order:
                if isinstance(i, str):
                    m = measure_in_fresh_process(backend, device, refs[i])
                    again[i] = again[i].pooled(m) if i in again else m
                else:
                    check = check_architecture(archs[i], preset, table, device, backend, args.workdir)
                    if i in checks:
                        check = dataclasses.replace(check, measured=checks[i].measured.pooled(check.measured))
                    checks[i] = check
                bar.update(1)
    rows = [
        {
            "arch": i,
            "mflops": arch.flops(preset) / 1e6,
            **checks[i].as_dict(),
            "predicted_overhead_ms": overhead_only.predict_ms(arch.op_specs(preset)),
        }
        for i, arch in enumerate(archs)
    ]
    wall = time.perf_counter() - start

    measured = [r["measured_ms"] for r in rows]
    stored = {n["key"]: n["measured_ms"] for n in (table.network_calibration.networks if refs else ())}
    speed = statistics.median(again[k].median_ms / stored[k] for k in refs) if refs else float("nan")
    modes = {
        "calibrated": fidelity_by_bin([r["predicted_ms"] for r in rows], measured),
        "at host speed": fidelity_by_bin([r["predicted_ms"] * speed for r in rows], measured) if refs else {},
        "overhead": fidelity_by_bin([r["predicted_overhead_ms"] for r in rows], measured),
        "plain sum": fidelity_by_bin([r["predicted_uncalibrated_ms"] for r in rows], measured),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"lut_fidelity-{device.name}-{args.space}-{args.preset}"
    with open(args.out / f"{stem}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    png = scatter_predicted_measured(
        measured,
        {
            "calibrated on whole networks": [r["predicted_ms"] for r in rows],
            "overhead paid once": [r["predicted_overhead_ms"] for r in rows],
            "uncalibrated (plain sum)": [r["predicted_uncalibrated_ms"] for r in rows],
        },
        args.out / f"{stem}.png",
        f"{args.space}/{args.preset} on {device.name}",
    )
    overhead = table.metadata.get("per_inference_overhead_ms")
    print(
        f"{args.space}/{args.preset} on {device.name} ({backend.name}): {args.n} random networks, {rounds} rounds, "
        f"{wall:.0f} s"
    )
    print(f"measured end to end: {min(measured):.3f} .. {max(measured):.3f} ms; per-inference overhead {overhead} ms")
    for line in table.network_calibration.describe() if table.network_calibration else ["no network calibration"]:
        print(line)
    if refs:
        print(
            f"host speed: the table's {len(refs)} calibration networks, measured again beside these, took {speed:.3f}x "
            "their profile times (median); 'at host speed' scales the calibrated predictions by it"
        )
    for name, figures in modes.items():
        for part, f in figures.items():
            print(f"{name:12s} {part:15s} {f.describe()}")
    print(f"wrote {args.out / f'{stem}.csv'} and {png}")


def reference_networks(table, preset, device, backend, workdir: Path) -> dict[str, Path]:
    """Key -> artifact of the calibration networks the table was fitted and validated on (empty without them)."""
    if table.network_calibration is None:
        return {}
    kept = {n["key"] for n in table.network_calibration.networks}
    cache = ArtifactCache(Path(workdir) / "artifacts")
    nets = calibration_networks(preset, device.profile.calibration_networks)
    return {n.key: cache.network(n, backend.artifact_format, backend.precision) for n in nets if n.key in kept}


if __name__ == "__main__":
    main()
