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

import random
from collections import Counter

from lut_fidelity import device_table, sampled_networks_parser  # the sibling benchmark

from hwnas.deploy.endtoend import check_architecture
from hwnas.deploy.export import export_encoder
from hwnas.measure.artifacts import ArtifactCache
from hwnas.measure.tflite import operator_counts
from hwnas.space.architecture import Architecture
from hwnas.space.network import ArchitectureNetwork


def main() -> None:
    args = sampled_networks_parser(__doc__.splitlines()[0], "cpu-tflite", 4, "benchmarks/out/litert_gap").parse_args()
    device, backend, preset, table = device_table(args)
    cache = ArtifactCache(args.workdir / "artifacts")
    rng = random.Random(args.seed)
    only_network: Counter = Counter()
    only_parts: Counter = Counter()
    for i in range(args.n):
        arch = Architecture.sample(preset, rng)
        whole = export_encoder(ArchitectureNetwork(arch, preset), args.out / f"net{i}.tflite", "tflite")
        net_ops = operator_counts(whole)
        part_ops: Counter = Counter()
        for spec in arch.op_specs(preset):
            part_ops += operator_counts(cache.get(spec, "tflite"))
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
