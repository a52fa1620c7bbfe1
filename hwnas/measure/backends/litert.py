"""LiteRT (TensorFlow Lite's runtime, ``ai-edge-litert``) on the local CPU: fixed threads, XNNPACK by default.

Measures the same ``.tflite`` files a phone or headset runs (converted from our ONNX by onnx2tf, NHWC), so a
table from this backend predicts what TFLite's kernels do rather than what onnxruntime's do.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from hwnas.core.errors import BackendUnavailable, HwnasError
from hwnas.measure.backends.base import Backend
from hwnas.measure.tflite import PRECISIONS, converter_version, quiet_native_stderr


class LiteRTBackend(Backend):
    name = "litert"
    artifact_format = "tflite"
    # xnnpack = false uses TFLite's built-in reference-optimised kernels without the default delegate
    # precision: float16 measures models whose weights are stored as float16 (see hwnas.measure.tflite)
    option_defaults: ClassVar[dict[str, Any]] = {"num_threads": 1, "xnnpack": True, "precision": "float32"}

    def __init__(self, options=None):
        super().__init__(options)
        threads = self.options["num_threads"]
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise HwnasError(f"litert option num_threads must be an integer >= 1, not {threads!r}")
        if not isinstance(self.options["xnnpack"], bool):
            raise HwnasError(f"litert option xnnpack must be true or false, not {self.options['xnnpack']!r}")
        if self.options["precision"] not in PRECISIONS:
            raise HwnasError(f"litert option precision must be {' or '.join(PRECISIONS)}, not {self.precision!r}")

    def check(self) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter  # noqa: F401
        except ImportError as exc:
            raise BackendUnavailable(
                f"LiteRT is not importable ({exc}); install the tflite extra: pip install 'hwnas[tflite]'"
            ) from None
        if converter_version() == "none":
            raise BackendUnavailable("onnx2tf is missing, so no .tflite can be made; pip install 'hwnas[tflite]'")

    def versions(self) -> dict[str, str]:
        from importlib import metadata

        return {"ai-edge-litert": metadata.version("ai-edge-litert"), "onnx2tf": converter_version()}

    def interpreter(self, artifact: Path):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        resolver = OpResolverType.AUTO if self.options["xnnpack"] else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        with quiet_native_stderr():
            return Interpreter(
                model_path=str(artifact),
                num_threads=self.options["num_threads"],
                experimental_op_resolver_type=resolver,
            )

    def time_runs(self, artifact: Path, warmup: int, runs: int) -> Sequence[float]:
        """Inputs set once (random, in each input's own NHWC shape and dtype); a timed run is one invoke()."""
        interpreter = self.interpreter(artifact)
        interpreter.allocate_tensors()
        rng = np.random.default_rng(0)
        for detail in interpreter.get_input_details():
            shape = [int(d) for d in detail["shape"]]
            if any(d < 1 for d in shape):
                raise HwnasError(f"input {detail['name']!r} of {artifact} has a dynamic shape {shape}")
            interpreter.set_tensor(detail["index"], rng.standard_normal(shape).astype(detail["dtype"]))
        for _ in range(warmup):
            interpreter.invoke()
        samples = []
        for _ in range(runs):
            t0 = time.perf_counter_ns()
            interpreter.invoke()
            samples.append((time.perf_counter_ns() - t0) / 1e6)
        return samples
