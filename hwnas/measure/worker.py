"""Measure one model file in a fresh process: ``python -m hwnas.measure.worker`` reads a JSON request on
stdin and writes the Measurement as JSON (its samples, or the run summary of a tool that prints no samples) to
the result file the request names — never to stdout, where a backend plugin may print what it likes.

In-process measurement right after training is slowed by torch's worker threads, which keep spinning on the
cores for a while after their last task; a fresh process has none.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from hwnas.core.errors import HwnasError
from hwnas.core.files import write_json
from hwnas.core.measurement import Measurement
from hwnas.measure.backends.base import Backend
from hwnas.measure.devices import DevicePreset


def measure_in_fresh_process(backend: Backend, device: DevicePreset, model: Path) -> Measurement:
    with tempfile.TemporaryDirectory(prefix="hwnas-worker-") as tmp:
        result = Path(tmp) / "measurement.json"
        request = {
            "backend": backend.name,
            "options": dict(backend.options),
            "warmup": device.profile.warmup,
            "runs": device.profile.runs,
            "model": str(model),
            "result": str(result),
        }
        done = subprocess.run(
            [sys.executable, "-m", "hwnas.measure.worker"], input=json.dumps(request), capture_output=True, text=True
        )
        if done.returncode != 0 or not result.is_file():
            last = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}, no message"])[-1]
            raise HwnasError(f"{backend.name} could not measure {model}: {last}")
        return Measurement.from_json(json.loads(result.read_text()), device.profile.noise_threshold)


def main() -> None:
    from hwnas.measure import backends

    request = json.loads(sys.stdin.read())
    backend = backends.create(request["backend"], request["options"])
    measurement = backend.measure(Path(request["model"]), request["warmup"], request["runs"])
    write_json(Path(request["result"]), measurement.to_json())


if __name__ == "__main__":
    main()
