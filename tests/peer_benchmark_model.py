"""Stands in for TFLite's benchmark_model on the test peer: runs the .tflite with LiteRT on this machine and
prints what benchmark_model 2.20 prints (INFO: lines on stderr, times in microseconds, p5/median/p95).

The tests push this file (behind a shebang naming this interpreter) as the user-supplied binary. Delegates are
applied as the real tool applies them: in the order their flags appear on the command line, the default
XNNPACK last unless any --use_xnnpack is given; the first one the device has (``.delegates`` in the working
directory lists them; XNNPACK always) takes the whole graph and the later ones nothing, each reported in the
tool's own words. Every run is on the CPU whatever took the graph: only the reports differ.
"""

import resource
import sys
import time
from pathlib import Path

import numpy as np

flags = dict(arg[2:].split("=", 1) for arg in sys.argv[1:] if arg.startswith("--") and "=" in arg)
log = sys.stderr


def info(text: str) -> None:
    print(f"INFO: {text}", file=log)


def stats(us: list[float]) -> str:
    if len(us) == 0:
        return "count=0"
    whole = [round(u) for u in us]
    p5, median, p95 = (int(np.percentile(whole, q, method="nearest")) for q in (5, 50, 95))
    if min(whole) == max(whole):
        head = f"count={len(whole)} curr={whole[-1]}" + ("(all same)" if len(whole) > 1 else "")
        return f"{head} p5={p5} median={median} p95={p95}"
    return (
        f"count={len(whole)} first={whole[0]} curr={whole[-1]} min={min(whole)} max={max(whole)} "
        f"avg={np.mean(whole):g} std={int(np.std(whole))} p5={p5} median={median} p95={p95}"
    )


graph = flags.get("graph", "")
threads = int(flags.get("num_threads", "1"))
info("STARTING!")
info("Log parameter values verbosely: [0]")
info(f"Graph: [{graph}]")
info(f"#threads used for CPU inference: [{threads}]")
from ai_edge_litert.interpreter import Interpreter  # noqa: E402

t0 = time.perf_counter()
try:
    interpreter = Interpreter(model_path=graph, num_threads=threads)
except Exception as exc:
    print(f"ERROR: Failed to load model {graph}: {exc}", file=log)
    print("Benchmarking failed.", file=log)
    sys.exit(1)
info(f"Loaded model {graph}")
info("Initialized TensorFlow Lite runtime.")
DELEGATE_FLAGS = {"use_xnnpack": "XNNPACK", "use_gpu": "GPU", "use_nnapi": "NNAPI", "use_hexagon": "Hexagon",
                  "external_delegate_path": "EXTERNAL"}  # fmt: skip
NODE_NAMES = {"XNNPACK": "TfLiteXNNPackDelegate", "GPU": "TfLiteGpuDelegateV2", "NNAPI": "TfLiteNnapiDelegate",
              "Hexagon": "TfLiteHexagonDelegate"}  # fmt: skip
ranked = []  # by the position of the flag that asks for each
for arg in sys.argv[1:]:
    flag, _, value = arg[2:].partition("=")
    if flag in DELEGATE_FLAGS and (value == "true" or flag == "external_delegate_path"):
        ranked.append(DELEGATE_FLAGS[flag])
if "use_xnnpack" not in flags:
    ranked.append("default XNNPACK")
available = {"XNNPACK", "default XNNPACK"}
if Path(".delegates").is_file():
    available |= set(Path(".delegates").read_text().split())
try:
    nodes = len(interpreter._get_ops_details())
except AttributeError:
    nodes = 1
left = nodes
for name in ranked:
    took = left if name in available else 0
    left -= took
    if name == "default XNNPACK":
        continue  # applied quietly, as the real tool does
    if name == "EXTERNAL":
        info("EXTERNAL delegate created.")
        info(
            f"TfLiteQnnDelegate delegate: {took} nodes delegated out of {nodes} nodes with {int(took > 0)} partitions."
        )
    elif took:
        info(f"Replacing {took} out of {nodes} node(s) with delegate ({NODE_NAMES[name]}) node, yielding 1 partitions "
             "for the whole graph.")  # fmt: skip
    if took:
        info(f"Explicitly applied {name} delegate, and the model graph will be completely executed by the delegate.")
    else:
        info(f"Though {name} delegate is explicitly applied, the model graph will not be executed by the delegate.")
interpreter.allocate_tensors()
rng = np.random.default_rng(0)
for d in interpreter.get_input_details():
    interpreter.set_tensor(d["index"], rng.standard_normal(d["shape"]).astype(d["dtype"]))
init_us = (time.perf_counter() - t0) * 1e6
info(f"Initialized session in {init_us / 1000:g}ms.")


def timed(n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        interpreter.invoke()
        out.append((time.perf_counter() - start) * 1e6)
    return out


warmup, runs = int(flags.get("warmup_runs", "1")), int(flags.get("num_runs", "50"))
LIMITS = "and at least 0 seconds but terminate if exceeding 150 seconds."
info(f"Running benchmark for at least {warmup} iterations {LIMITS}")
w = timed(warmup)
info(stats(w))
info(f"Running benchmark for at least {runs} iterations {LIMITS}")
r = timed(runs)
info(stats(r))
first = w[0] if w else r[0]
info(
    f"Inference timings in us: Init: {int(init_us)}, First inference: {int(first)}, "
    f"Warmup (avg): {np.mean(w) if w else 0:g}, Inference (avg): {np.mean(r):g}"
)
if flags.get("enable_op_profiling") == "true":  # the run's mean spread over the ops by their share of the work
    ops = interpreter._get_ops_details()
    weights = [1 + len(op.get("inputs", [])) for op in ops]
    info("Operator-wise Profiling Info for Regular Benchmark Runs:")
    print("============================== Run Order ==============================", file=log)
    header = ["[node type]", "[first]", "[avg ms]", "[%]", "[cdf%]", "[mem KB]", "[times called]", "[Name]"]
    print("\t" + "\t".join(header), file=log)
    cdf = 0.0
    for k, (op, weight) in enumerate(zip(ops, weights, strict=True)):
        avg = np.mean(r) / 1000 * weight / sum(weights)
        share = 100 * weight / sum(weights)
        cdf += share
        cells = [op["op_name"], f"{avg:.3f}", f"{avg:.3f}", f"{share:.3f}%", f"{cdf:.3f}%", "0.000", "1",
                 f"[{op['op_name'].lower()}]:{k}"]  # fmt: skip
        print("\t" + "\t".join(cells), file=log)
if flags.get("report_peak_memory_footprint") == "true":
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    info(f"Memory footprint delta from the start of the tool (MB): init={peak * 0.9:.4g} overall={peak:.4g}")
    info(f"Overall peak memory footprint (MB) via periodic monitoring: {peak:.4g}")
