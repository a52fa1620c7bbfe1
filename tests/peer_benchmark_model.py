"""Stands in for TFLite's benchmark_model on the test peer: runs the .tflite with LiteRT on this machine and
prints what benchmark_model 2.20 prints (INFO: lines on stderr, times in microseconds, p5/median/p95).

The tests push this file (behind a shebang naming this interpreter) as the user-supplied binary. A delegate it
cannot provide is reported the way the real tool reports an unused delegate, and the run goes on on the CPU.
"""

import sys
import time

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
for flag, name in (("use_gpu", "GPU"), ("use_nnapi", "NNAPI"), ("use_hexagon", "Hexagon")):
    if flags.get(flag) == "true":
        info(f"Though {name} delegate is explicitly applied, the model graph will not be executed by the delegate.")
if "external_delegate_path" in flags:
    info("EXTERNAL delegate created.")
    info("TfLiteQnnDelegate delegate: 0 nodes delegated out of 1 nodes with 0 partitions.")
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
