"""Does the latency table predict whole networks? Random architectures, predicted vs measured end to end.

Samples N random architectures of a space preset, predicts each from the device's LatencyTable (calibrated on
the whole networks measured with its ops; with only the per-inference overhead paid once; as the plain sum of
medians), exports each and measures it end to end with the same backend and profile settings — in the device's
rounds, each round one fresh process measuring them beside the table's own calibration networks (their time now
against their time in the profile is the host's change of speed since; 'at host speed' scales the predictions by
it) — and prints the
share within +-10%, the Spearman rank correlation, the mean absolute percentage error and the bias (mean signed
error), over all networks and over each third of them by measured latency; writes the pairs as CSV and a
scatter PNG.

    python benchmarks/lut_fidelity.py --preset small --n 30
"""

from __future__ import annotations

import argparse
import csv
import random
import time
from pathlib import Path

from tqdm import tqdm

from hwnas.core.plots import scatter_predicted_measured
from hwnas.deploy.endtoend import check_at_host_speed
from hwnas.lut.fidelity import fidelity_by_bin
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
    start = time.perf_counter()
    with tqdm(total=rounds, desc="rounds (all networks in one fresh process each)", unit="round") as bar:
        checks = check_at_host_speed(archs, preset, table, device, backend, args.workdir, rounds, bar.update)
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
    speed = checks[0].host_factor
    modes = {
        "calibrated": fidelity_by_bin([r["predicted_ms"] for r in rows], measured),
        "at host speed": fidelity_by_bin([r["predicted_ms"] * speed for r in rows], measured),
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
    print(
        f"host speed: the table's calibration networks, measured again in the same processes as these, took "
        f"{speed:.3f}x their profile times (median; 1 without them); 'at host speed' scales the predictions by it"
    )
    for name, figures in modes.items():
        for part, f in figures.items():
            print(f"{name:12s} {part:15s} {f.describe()}")
    print(f"wrote {args.out / f'{stem}.csv'} and {png}")


if __name__ == "__main__":
    main()
