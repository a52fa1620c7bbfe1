"""Measure model files in a fresh process: ``python -m hwnas.measure.worker`` reads a JSON request on
stdin and writes a list of Measurements as JSON (its samples, or the run summary of a tool that prints no samples) to
the result file the request names — never to stdout, where a backend plugin may print what it likes.

In-process measurement right after training is slowed by torch's worker threads, which keep spinning on the
cores for a while after their last task; a fresh process has none.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from hwnas.core.errors import HwnasError
from hwnas.core.files import write_json
from hwnas.core.measurement import DEFAULT_NOISE_THRESHOLD, Measurement
from hwnas.measure.backends.base import Backend
from hwnas.measure.devices import DevicePreset


def measure_in_fresh_process(backend: Backend, device: DevicePreset, model: Path) -> Measurement:
    return measure_many_in_fresh_process(backend, device, [model])[0]


def measure_many_in_fresh_process(
    backend: Backend, device: DevicePreset, models: Sequence[Path], loads: int = 1
) -> list[Measurement]:
    """Measure the models one after the other, in this order, in one fresh process, each in ``loads`` loads
    (pooled). Models measured in the same process share its speed (a shared host moves by tens of per cent between
    processes seconds apart), so their ratios hold better than their times."""
    with tempfile.TemporaryDirectory(prefix="hwnas-worker-") as tmp:
        result = Path(tmp) / "measurements.json"
        request = {
            "backend": backend.name,
            "options": dict(backend.options),
            "warmup": device.profile.warmup,
            "runs": device.profile.runs,
            "models": [str(m) for m in models],
            "loads": loads,
            "result": str(result),
        }
        done = subprocess.run(
            [sys.executable, "-m", "hwnas.measure.worker"], input=json.dumps(request), capture_output=True, text=True
        )
        if done.returncode != 0 or not result.is_file():
            last = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}, no message"])[-1]
            what = models[0] if len(models) == 1 else f"{len(models)} models ({models[0]}, ...)"
            raise HwnasError(f"{backend.name} could not measure {what}: {last}")
        threshold = device.profile.noise_threshold
        return [Measurement.from_json(m, threshold) for m in json.loads(result.read_text())]


def measure_loads(
    backend: Backend, model: Path, warmup: int, runs: int, loads: int, noise_threshold: float = DEFAULT_NOISE_THRESHOLD
) -> Measurement:
    """A model measured in ``loads`` loads, one after the other, pooled: on a shared host a model runs at one
    speed per load, so one load is one draw of that speed."""
    measured = backend.measure(model, warmup, runs, noise_threshold)
    for _ in range(loads - 1):
        measured = measured.pooled(backend.measure(model, warmup, runs, noise_threshold))
    return measured


def main() -> None:
    from hwnas.measure import backends

    request = json.loads(sys.stdin.read())
    backend = backends.create(request["backend"], request["options"])
    warmup, runs, loads = request["warmup"], request["runs"], request.get("loads", 1)
    measured = [measure_loads(backend, Path(m), warmup, runs, loads).to_json() for m in request["models"]]
    write_json(Path(request["result"]), measured)


if __name__ == "__main__":
    main()
