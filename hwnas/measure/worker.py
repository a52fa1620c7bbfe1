"""Measure one model file in a fresh process: ``python -m hwnas.measure.worker`` reads a JSON request on
stdin and prints the Measurement as JSON (its samples, or the run summary of a tool that prints no samples).

In-process measurement right after training is slowed by torch's worker threads, which keep spinning on the
cores for a while after their last task; a fresh process has none.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hwnas.core.errors import HwnasError
from hwnas.core.measurement import Measurement
from hwnas.measure.backends.base import Backend
from hwnas.measure.devices import DevicePreset


def measure_in_fresh_process(backend: Backend, device: DevicePreset, model: Path) -> Measurement:
    request = {
        "backend": backend.name,
        "options": dict(backend.options),
        "warmup": device.profile.warmup,
        "runs": device.profile.runs,
        "model": str(model),
    }
    done = subprocess.run(
        [sys.executable, "-m", "hwnas.measure.worker"], input=json.dumps(request), capture_output=True, text=True
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise HwnasError(f"{backend.name} could not measure {model}: {last}")
    return Measurement.from_json(json.loads(done.stdout), device.profile.noise_threshold)


def main() -> None:
    from hwnas.measure import backends

    request = json.loads(sys.stdin.read())
    backend = backends.create(request["backend"], request["options"])
    measurement = backend.measure(Path(request["model"]), request["warmup"], request["runs"])
    print(json.dumps(measurement.to_json()))


if __name__ == "__main__":
    main()
