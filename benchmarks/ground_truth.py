"""Ground truth of a space (issue 39): architectures spread over the device table's latency range, each trained
stand-alone several times; prints whether the benchmark is one where architectures matter — one training's
noise, and per latency bin the spread of the architectures' scores in units of it, and the trend of score with
latency. Resumable: each finished training is a file under --out; run it again to go on (``--limit`` trainings
per call); commit ``ground_truth.csv`` (it holds every architecture) to keep the table.

    pip install ./examples/hwnas-mnist1d
    python benchmarks/ground_truth.py --space mnist1d --preset small --n 200 --trainings 2 --ray
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hwnas.core.jobs import JobOptions
from hwnas.space import get_preset
from hwnas.train.options import split_options
from hwnas.workflows.groundtruth import GroundTruth, GroundTruthRequest, build_ground_truth, criteria, write_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="mnist1d")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--n", type=int, default=200, help="architectures")
    parser.add_argument("--trainings", type=int, default=2, help="stand-alone trainings of each")
    parser.add_argument("--steps", type=int, default=None, help="per training (default: the task's)")
    parser.add_argument("--seed", type=int, default=0, help="of the sample of architectures")
    parser.add_argument("--task-option", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--limit", type=int, default=None, help="at most this many trainings in this call")
    parser.add_argument("--ray", action="store_true", help="trainings as Ray tasks, one CPU each")
    parser.add_argument("--summary-only", action="store_true", help="print the criteria of what is there")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="default: benchmarks/results/ground-truth-<space>-<preset>",
    )
    parser.add_argument("--workdir", type=Path, default=Path(".hwnas"))
    parser.add_argument("--lut-dir", type=Path, default=Path("lut"))
    args = parser.parse_args()
    out = args.out or Path("benchmarks/results") / f"ground-truth-{args.space}-{args.preset}"
    request = GroundTruthRequest(
        args.space, args.preset, args.device, args.n, args.trainings, args.steps, args.seed,
        split_options(args.task_option), out, args.workdir, args.lut_dir,
    )  # fmt: skip
    if args.summary_only:
        path = write_table(out, get_preset(args.space, args.preset))
    else:
        path = build_ground_truth(request, JobOptions(ray=args.ray), limit=args.limit)
    for line in criteria(GroundTruth.read(path)):
        print(line)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
