"""Scaling beyond one process: search steps/s on 1 vs N torchrun processes, random search in one process vs its
candidates as Ray tasks, profiling ops/s on 1 vs N devices.

Search: the same `hwnas search` (same seed, steps and global batch) in one process and under
`torchrun --nproc-per-node N`; steps/s from each report's wall time (the search loop only: no table building,
start-up or end-to-end check). Random search: the same `hwnas search --method random` (4 candidates) in this
process (torch's threads over all cores) and with `--ray` (one task of one thread per candidate, as many at
once as there are cores); weight steps/s from the report's wall time, Ray's start included. Farm: avatar/tiny
profiled into a fresh store by `hwnas profile --device quest2` on one simulated Quest 2 and on a farm of N of
them — adb peers on loopback (tests/adb_peer.py) running each model with LiteRT, the most real device this
machine can run — ops/s from the profile's own wall time (Ray's start included). All print ratios measured in
one run; finished search folders are reused on a re-run.

    python benchmarks/scaling.py --preset tiny            # about 2 minutes on 2 cores
    python benchmarks/scaling.py --preset small --steps 60 --torch-device cuda --procs 1,2,4   # a GPU node
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def hwnas(*args: str, procs: int = 1, env: dict[str, str] | None = None) -> str:
    launcher = [sys.executable, "-m", "hwnas"]
    if procs > 1:
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={procs}",
                    "-m", "hwnas"]  # fmt: skip
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    r = subprocess.run([*launcher, *args], capture_output=True, text=True, env=full_env)
    if r.returncode:
        sys.exit(f"{' '.join(args[:3])} failed:\n{r.stderr[-2000:]}")
    return r.stdout


def search_rates(args) -> dict[int, float]:
    rates = {}
    for n in args.procs:
        out = args.out / f"search-{args.preset}-{args.torch_device.replace(':', '')}-p{n}-s{args.steps}"
        hwnas("search", "--space", "avatar", "--preset", args.preset, "--device", "cpu", "--speedup", "3",
              "--steps", str(args.steps), "--torch-device", args.torch_device, "--out", str(out), "--no-progress",
              "--workdir", str(args.workdir), "--lut-dir", str(args.lut_dir), procs=n)  # fmt: skip
        report = json.loads((out / "report.json").read_text())
        rates[n] = len(report["history"]) / report["wall_s"]
        print(f"search avatar/{args.preset}, {n} process(es): {rates[n]:.2f} steps/s ({report['wall_s']:.1f} s)")
    return rates


def random_rates(args) -> dict[str, float]:
    rates = {}
    for how, extra in (("in-process", []), ("ray", ["--ray"])):
        out = args.out / f"random-{args.preset}-{how}-s{args.random_steps}"
        hwnas("search", "--space", "avatar", "--preset", args.preset, "--device", "cpu", "--speedup", "3",
              "--method", "random", "--steps", str(args.random_steps), "--out", str(out), "--no-progress",
              "--workdir", str(args.workdir), "--lut-dir", str(args.lut_dir), *extra)  # fmt: skip
        report = json.loads((out / "report.json").read_text())
        rates[how] = sum(h["steps"] for h in report["history"]) / report["wall_s"]
        print(f"random search avatar/{args.preset}, {how}: {rates[how]:.2f} steps/s ({report['wall_s']:.1f} s)")
    return rates


def farm_rates(devices: list[int]) -> dict[int, float]:
    sys.path.insert(0, str(REPO))
    from tests.adb_peer import AdbPeer  # the loopback device of the tests

    props = {"ro.product.model": "Quest 2", "ro.board.platform": "kona", "ro.build.fingerprint": "bench"}
    rates = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        binary = root / "benchmark_model"
        binary.write_text(f"#!{sys.executable}\n" + (REPO / "tests/peer_benchmark_model.py").read_text())
        binary.chmod(0o755)
        env = {"XDG_CONFIG_HOME": str(root / "cfg")}
        space = ["--space", "avatar", "--preset", "tiny", "--no-progress"]
        # the .tflite conversions once (cpu-tflite shares the artifact format), so that only measuring is timed
        hwnas("profile", "--device", "cpu-tflite", *space, "--workdir", str(root / "convert"), env=env)
        for n in devices:
            peers = [AdbPeer(root / f"n{n}-device{i}", props) for i in range(n)]
            for p in peers:
                p.start()
            work = root / f"n{n}"
            shutil.copytree(root / "convert" / "artifacts", work / "artifacts")
            where = [a for p in peers for a in ("--farm" if n > 1 else "--host", f"127.0.0.1:{p.port}")]
            out = hwnas("profile", "--device", "quest2", *where, "--option", f"binary={binary}", *space,
                        "--workdir", str(work), env=env)  # fmt: skip
            for p in peers:
                p.stop()
            measured, wall = re.search(r"(\d+) measured now.*?; ([\d.]+) s", out).groups()
            rates[n] = int(measured) / float(wall)
            print(f"profile avatar/tiny on {n} simulated Quest 2(s): {rates[n]:.2f} ops/s ({measured} ops, {wall} s)")
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--procs", default="1,2", help="torchrun process counts to compare")
    parser.add_argument("--devices", default="1,2", help="farm sizes to compare")
    parser.add_argument("--torch-device", default="cpu")
    parser.add_argument("--random-steps", type=int, default=400, help="random search's budget (4 candidates)")
    parser.add_argument("--skip-farm", action="store_true", help="no farm (a GPU node has no adb peers)")
    parser.add_argument("--skip-random", action="store_true", help="no random search")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/out/scaling")
    parser.add_argument("--workdir", type=Path, default=REPO / ".hwnas")
    parser.add_argument("--lut-dir", type=Path, default=REPO / "lut")
    args = parser.parse_args()
    args.procs = [int(p) for p in args.procs.split(",")]
    search = search_rates(args)
    base = search[args.procs[0]]
    print("search speed-up: " + ", ".join(f"{n} procs {r / base:.2f}x" for n, r in search.items()))
    if not args.skip_random:
        rnd = random_rates(args)
        print(f"random search speed-up on Ray: {rnd['ray'] / rnd['in-process']:.2f}x")
    if not args.skip_farm:
        farm = farm_rates([int(d) for d in args.devices.split(",")])
        first = next(iter(farm.values()))
        print("profiling speed-up: " + ", ".join(f"{n} devices {r / first:.2f}x" for n, r in farm.items()))


if __name__ == "__main__":
    main()
