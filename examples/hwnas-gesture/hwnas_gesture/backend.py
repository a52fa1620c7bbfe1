"""hwnas backend plugin: ONNX artifacts timed with onnx's pure-Python reference evaluator."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from hwnas.api import Backend, BackendUnavailable, HwnasError

PRESETS = """
[cpu-onnx-reference]
description = "This machine's CPU through onnx.reference.ReferenceEvaluator (pure Python, numpy kernels)"
backend = "onnx-reference"

[cpu-onnx-reference.profile]
warmup = 1
runs = 5
noise_threshold = 0.25
"""


def device_presets() -> str:
    """Entry point of group ``hwnas.devices``: TOML text with this plugin's presets."""
    return PRESETS


class ReferenceEvaluatorBackend(Backend):
    name = "onnx-reference"
    artifact_format = "onnx"
    option_defaults: ClassVar[dict[str, Any]] = {"seed": 0}

    def __init__(self, options=None):
        super().__init__(options)  # refuses unknown options
        seed = self.options["seed"]
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise HwnasError(f"onnx-reference option seed must be a whole number >= 0, not {seed!r}")

    def check(self) -> None:
        try:
            from onnx.reference import ReferenceEvaluator  # noqa: F401
        except ImportError as exc:
            raise BackendUnavailable(f"onnx.reference is not importable ({exc}); pip install 'onnx>=1.15'") from None

    def versions(self) -> dict[str, str]:
        import onnx

        return {"onnx": onnx.__version__, "numpy": np.__version__}

    def time_runs(self, artifact: Path, warmup: int, runs: int) -> Sequence[float]:
        import onnx
        from onnx.reference import ReferenceEvaluator

        model = onnx.load(str(artifact))
        evaluator = ReferenceEvaluator(model)
        rng = np.random.default_rng(self.options["seed"])
        feeds = {}
        for inp in model.graph.input:
            dims = [d.dim_value for d in inp.type.tensor_type.shape.dim]
            feeds[inp.name] = rng.standard_normal(dims).astype(np.float32)
        for _ in range(warmup):
            evaluator.run(None, feeds)
        samples = []
        for _ in range(runs):
            t0 = time.perf_counter_ns()
            evaluator.run(None, feeds)
            samples.append((time.perf_counter_ns() - t0) / 1e6)
        return samples
