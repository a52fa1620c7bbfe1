"""Where does a LiteRT table miss whole networks? The graph each side runs, operator by operator.

For random architectures of a space preset: the whole network as the device runs it (``hwnas export`` to
.tflite) beside the isolated op artifacts its table rows were measured on. Counts the operators of both by type
(what onnx2tf put into each), prints the operators that only the whole network has (the glue the table holds no
row for: input transposes, concatenations, reshapes, ...) and those only the parts have (boundaries that a
network fuses away), and the table's prediction against the end-to-end measurement. Structure only: timing
each operator in place needs benchmark_model's op profiler (``hwnas profile --model m.tflite --op-profile`` on
a device); LiteRT's Python interpreter has none.

    python benchmarks/litert_gap.py --space avatar --preset small --n 4
"""

from __future__ import annotations

import argparse
import random
from collections import Counter
from pathlib import Path

from hwnas.deploy.endtoend import check_architecture
from hwnas.deploy.export import export_encoder
from hwnas.measure.artifacts import ArtifactCache
from hwnas.space import get_preset
from hwnas.space.architecture import Architecture
from hwnas.space.network import ArchitectureNetwork
from hwnas.workflows.tables import ensure_table, open_device


def operators(path: Path) -> Counter:
    from ai_edge_litert.interpreter import Interpreter

    return Counter(op["op_name"] for op in Interpreter(model_path=str(path))._get_ops_details())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="avatar")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--device", default="cpu-tflite")
    parser.add_argument("--n", type=int, default=4, help="random architectures")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=Path(".hwnas"))
    parser.add_argument("--lut-dir", type=Path, default=Path("lut"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/litert_gap"))
    args = parser.parse_args()

    device, backend = open_device(args.device, None)
    preset = get_preset(args.space, args.preset)
    table, _ = ensure_table(device, backend, preset, args.workdir, args.lut_dir)
    cache = ArtifactCache(args.workdir / "artifacts")
    rng = random.Random(args.seed)
    only_network: Counter = Counter()
    only_parts: Counter = Counter()
    for i in range(args.n):
        arch = Architecture.sample(preset, rng)
        whole = export_encoder(ArchitectureNetwork(arch, preset), args.out / f"net{i}.tflite", "tflite")
        net_ops = operators(whole)
        part_ops: Counter = Counter()
        for spec in arch.op_specs(preset):
            part_ops += operators(cache.get(spec, "tflite"))
        check = check_architecture(arch, preset, table, device, backend, args.workdir)
        extra, missing = net_ops - part_ops, part_ops - net_ops
        only_network += extra
        only_parts += missing
        print(
            f"net {i}: measured {check.measured.median_ms:.3f} ms, table {check.predicted_ms:.3f} ms "
            f"({check.predicted_ms / check.measured.median_ms - 1:+.1%}); operators: network {sum(net_ops.values())}, "
            f"parts {sum(part_ops.values())}"
        )
        print(f"  only in the network: {dict(extra.most_common())}")
        print(f"  only in the parts:   {dict(missing.most_common())}")
    print(f"over {args.n} networks, only in the networks: {dict(only_network.most_common())}")
    print(f"over {args.n} networks, only in the parts:    {dict(only_parts.most_common())}")


if __name__ == "__main__":
    main()
