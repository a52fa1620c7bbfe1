"""onnxruntime on the local CPU: fixed intra-op threads, sequential execution, spinning off, IOBinding."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from hwnas.core.errors import BackendUnavailable, HwnasError
from hwnas.measure.backends.base import Backend

_OPT_LEVELS = {
    "disabled": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"
    artifact_format = "onnx"
    # "extended", not "all": level "all" adds the NCHWc layout transform, whose reorders sit around every
    # isolated op but only at the ends of a network, so per-op tables over-predict networks (devices.toml).
    option_defaults: ClassVar[dict[str, Any]] = {"intra_op_threads": 1, "graph_optimization": "extended"}

    def __init__(self, options=None):
        super().__init__(options)
        threads = self.options["intra_op_threads"]
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise HwnasError(f"onnxruntime option intra_op_threads must be an integer >= 1, not {threads!r}")
        if self.options["graph_optimization"] not in _OPT_LEVELS:
            raise HwnasError(
                f"onnxruntime option graph_optimization must be one of {', '.join(_OPT_LEVELS)}, "
                f"not {self.options['graph_optimization']!r}"
            )

    def check(self) -> None:
        try:
            import onnxruntime  # noqa: F401
        except ImportError as exc:
            raise BackendUnavailable(f"onnxruntime is not importable ({exc}); pip install onnxruntime") from None

    def versions(self) -> dict[str, str]:
        import onnxruntime

        return {"onnxruntime": onnxruntime.__version__}

    def session(self, artifact: Path):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = self.options["intra_op_threads"]
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = getattr(
            ort.GraphOptimizationLevel, _OPT_LEVELS[self.options["graph_optimization"]]
        )
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.add_session_config_entry("session.inter_op.allow_spinning", "0")
        so.log_severity_level = 3
        return ort.InferenceSession(str(artifact), so, providers=["CPUExecutionProvider"])

    def time_runs(self, artifact: Path, warmup: int, runs: int) -> Sequence[float]:
        """Input bound once as an OrtValue and outputs pre-bound, so a timed run is the graph alone."""
        import onnxruntime as ort

        sess = self.session(artifact)
        binding = sess.io_binding()
        rng = np.random.default_rng(0)
        for inp in sess.get_inputs():
            shape = _static_shape(inp.shape, inp.name, artifact)
            value = ort.OrtValue.ortvalue_from_numpy(rng.standard_normal(shape).astype(np.float32))
            binding.bind_ortvalue_input(inp.name, value)
        for out in sess.get_outputs():
            binding.bind_output(out.name, "cpu")
        sess.run_with_iobinding(binding)  # first run allocates the outputs; later runs reuse them
        outputs = binding.get_outputs()
        for out, value in zip(sess.get_outputs(), outputs, strict=True):
            binding.bind_ortvalue_output(out.name, value)
        for _ in range(warmup):
            sess.run_with_iobinding(binding)
        samples = []
        for _ in range(runs):
            t0 = time.perf_counter_ns()
            sess.run_with_iobinding(binding)
            samples.append((time.perf_counter_ns() - t0) / 1e6)
        return samples


def _static_shape(shape: list, name: str, artifact: Path) -> list[int]:
    if not all(isinstance(d, int) and d > 0 for d in shape):
        raise HwnasError(f"input {name!r} of {artifact} has a dynamic shape {shape}; export it with static shapes")
    return shape
