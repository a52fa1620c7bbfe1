"""An Android device over adb (adb-shell): TFLite's ``benchmark_model`` runs each ``.tflite`` on the device.

The user supplies the ``benchmark_model`` binary for the device's ABI (and a delegate's libraries); hwnas pushes
each file once, named by its content hash, runs the tool pinned to the big cores with the delegate's flags and
parses its output (see ``hwnas.measure.benchmark_output``). A delegate that took no part of the graph is a
failure of that op, never a CPU number filed under the delegate. benchmark_model prints statistics, not raw
samples, so its Measurements carry a RunSummary.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import asdict
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, ClassVar

from hwnas.core.errors import BackendUnavailable, HwnasError
from hwnas.core.measurement import DEFAULT_NOISE_THRESHOLD, Measurement
from hwnas.measure.adb import DEFAULT_DEVICE_DIR, AdbSession, file_hash, files_hash
from hwnas.measure.backends.base import Backend
from hwnas.measure.benchmark_output import BenchmarkOutput, Placement, parse
from hwnas.measure.tflite import PRECISIONS, operator_counts

DELEGATES = ("cpu", "gpu", "nnapi", "hexagon", "qnn")
# How benchmark_model names each delegate in the lines that say how much of the graph it took.
DELEGATE_NAMES = {
    "gpu": ("GPU", "TfLiteGpuDelegateV2", "TfLiteGpuDelegate"),
    "nnapi": ("NNAPI", "TfLiteNnapiDelegate"),
    "hexagon": ("Hexagon", "TfLiteHexagonDelegate"),
    "qnn": ("EXTERNAL", "TfLiteQnnDelegate"),
}
QNN_DELEGATE_LIB = "libQnnTFLiteDelegate.so"
# Options that say how to reach the device, not what is measured: left out of the configuration id.
CONNECTION_OPTIONS = (
    "host", "serial", "key", "timeout_s", "connect_timeout_s", "retries", "backoff_s", "device_dir", "binary", "libs",
    "expected_soc",
)  # fmt: skip
# What the device says about itself (model, SoC platform, SoC model on Android 12+, Android version, build),
# recorded with its measurements and so in the table's metadata
PROPS = ("ro.product.model", "ro.board.platform", "ro.soc.model", "ro.build.version.release", "ro.build.fingerprint")
_CPU_FREQ = re.compile(r"cpu(\d+)/cpufreq/cpuinfo_max_freq\s+(\d+)")


def big_core_mask(max_freq_khz: dict[int, int]) -> int:
    """CPUs faster than the slowest cluster (the prime and gold cores of a Snapdragon 845/865); all when equal."""
    if not max_freq_khz:
        raise HwnasError("the device reported no cpuinfo_max_freq; set cpu_mask to a hex mask such as 'f0'")
    slowest = min(max_freq_khz.values())
    big = [cpu for cpu, f in max_freq_khz.items() if f > slowest] or list(max_freq_khz)
    return sum(1 << cpu for cpu in big)


class AdbTFLiteBackend(Backend):
    name = "adb-tflite"
    artifact_format = "tflite"
    option_defaults: ClassVar[dict[str, Any]] = {
        "host": "",  # ip:port of a device in TCP mode (`adb tcpip 5555`)
        "serial": "",  # or the USB serial
        "binary": "",  # local path of benchmark_model built for the device (android_aarch64)
        "delegate": "cpu",  # cpu | gpu | nnapi | hexagon | qnn
        "libs": [],  # local delegate libraries pushed beside the model (Hexagon, QNN)
        "qnn_options": "backend_type:dsp",  # --external_delegate_options of the QNN delegate
        "num_threads": 1,
        "cpu_mask": "auto",  # taskset mask in hex, "auto" (big cores from cpuinfo_max_freq) or "none"
        "use_xnnpack": True,
        "precision": "float32",  # or float16: weights stored as float16 (the GPU delegate computes in fp16 anyway)
        "min_delegated_share": 1.0,  # share of graph nodes the delegate must take, else the op fails
        "peak_memory": True,  # --report_peak_memory_footprint: each op's peak memory stored beside its latency
        "op_profiling": False,  # --enable_op_profiling: a whole model's time per op (hwnas profile --op-profile)
        "device_dir": DEFAULT_DEVICE_DIR,
        "expected_soc": "",  # ro.board.platform the preset is for (kona = XR2/865, sdm845); "" measures any device
        "key": "",  # RSA key; default ~/.config/hwnas/adbkey, created when missing
        "timeout_s": 120.0,  # one benchmark_model run
        "connect_timeout_s": 10.0,  # connecting, authorising, short commands
        "retries": 3,
        "backoff_s": 1.0,
    }

    def __init__(self, options=None):
        super().__init__(options)
        o = self.options
        if o["delegate"] not in DELEGATES:
            raise HwnasError(f"adb-tflite option delegate must be one of {', '.join(DELEGATES)}, not {o['delegate']!r}")
        for key in ("num_threads", "retries"):
            if isinstance(o[key], bool) or not isinstance(o[key], int) or o[key] < (1 if key == "num_threads" else 0):
                raise HwnasError(f"adb-tflite option {key} must be a whole number (num_threads >= 1), not {o[key]!r}")
        if not isinstance(o["libs"], list) or not all(isinstance(p, str) for p in o["libs"]):
            raise HwnasError('adb-tflite option libs must be a list of file paths, e.g. ["libhexagon_interface.so"]')
        if o["precision"] not in PRECISIONS:
            raise HwnasError(f"adb-tflite option precision must be {' or '.join(PRECISIONS)}, not {o['precision']!r}")
        mask = str(o["cpu_mask"])
        if mask not in ("auto", "none") and not re.fullmatch(r"[0-9a-fA-F]+", mask):
            raise HwnasError(f"adb-tflite option cpu_mask must be 'auto', 'none' or a hex mask like 'f0', not {mask!r}")
        if not 0 <= float(o["min_delegated_share"]) <= 1:
            raise HwnasError("adb-tflite option min_delegated_share must be between 0 and 1")
        self._session: AdbSession | None = None
        self._device_info: dict[str, str] | None = None
        self._remote_bin: str | None = None
        self._remote_libs: str | None = None
        self._mask: str | None = None

    # ---- the plugin contract ---------------------------------------------------------------------
    versions_need_device = True

    def identity(self) -> dict[str, Any]:
        return {"backend": self.name, "options": {k: v for k, v in self.options.items() if k not in CONNECTION_OPTIONS}}

    def check(self) -> None:
        binary = self.options["binary"]
        if not binary:
            raise BackendUnavailable(
                "adb-tflite needs a benchmark_model binary for the device: download android_aarch64_benchmark_model "
                "(see docs/devices.md) and pass --option binary=<path>"
            )
        if not Path(binary).is_file():
            raise BackendUnavailable(f"benchmark_model binary {binary} does not exist; pass --option binary=<path>")
        for lib in self.options["libs"]:
            if not Path(lib).is_file():
                raise BackendUnavailable(f"delegate library {lib} does not exist; fix the libs option")
        if self.options["delegate"] == "qnn" and QNN_DELEGATE_LIB not in {Path(p).name for p in self.options["libs"]}:
            raise BackendUnavailable(f"delegate qnn needs {QNN_DELEGATE_LIB} (and its backend libraries) in libs")
        self.session()  # connects: unreachable or unauthorised devices fail here, before any work
        self.check_identity()

    def check_identity(self) -> None:
        """A preset made for one SoC refuses another: its numbers would be filed under the wrong device."""
        expected, info = str(self.options["expected_soc"]), self.device_info()
        platform = info.get("ro.board.platform", "")
        if expected and platform.lower() != expected.lower():
            raise BackendUnavailable(
                f"the device at {self.session().target} is a {info.get('ro.product.model') or 'device'} with SoC "
                f"platform {platform or 'unknown'!r}, not the {expected!r} this preset is for; pick its own preset "
                "(hwnas devices), or measure it anyway with --option expected_soc=''"
            )

    def versions(self) -> dict[str, str]:
        info = self.device_info()
        out = {"benchmark_model_sha256": self._binary_hash[:16], **info}
        if self.options["libs"]:
            out["delegate_libs_sha256"] = self._libs_hash[:16]
        return out

    def time_runs(self, artifact: Path, warmup: int, runs: int) -> Sequence[float]:
        raise HwnasError("benchmark_model prints statistics, not per-run samples; use measure()")

    def measure(
        self, artifact: Path, warmup: int, runs: int, noise_threshold: float = DEFAULT_NOISE_THRESHOLD
    ) -> Measurement:
        out, placement = self.run_benchmark(artifact, warmup, runs)
        extra: dict[str, Any] = {}
        if placement is not None:
            extra["placement"] = placement.describe()
        if out.peak_memory_mb is not None:
            extra["peak_memory_mb"] = out.peak_memory_mb
        if self.options["op_profiling"]:
            extra["op_profile"] = [asdict(row) for row in out.op_profile]
        return Measurement.from_summary(out.regular.summary(), noise_threshold, extra)

    def placement(self, out: BenchmarkOutput, artifact: Path) -> Placement | None:
        """Where the delegate put the graph, as the tool says; a graph without operators (an identity op, the
        overhead model) has nothing to place, which no delegate reports as taken."""
        delegate = self.options["delegate"]
        if delegate == "cpu":
            return None
        if _operator_count(artifact) == 0:
            return Placement(delegate, 1.0, 0, 0)
        return out.placement(delegate, DELEGATE_NAMES[delegate])

    def diagnose(self) -> list[tuple[str, bool, str]]:
        """Each step a first profile needs, in order; the first that fails ends the list with its fix."""
        from hwnas.measure.adb import adb_key

        o, results = self.options, []

        def step(name: str, action) -> bool:
            try:
                results.append((name, True, action() or "ok"))
                return True
            except Exception as exc:
                results.append((name, False, str(exc)))
                return False

        def binary() -> str:
            if not o["binary"] or not Path(o["binary"]).is_file():
                raise HwnasError(
                    "no benchmark_model binary: download android_aarch64_benchmark_model (docs/devices.md) and pass "
                    "--option binary=<path>"
                )
            return f"{o['binary']} (sha256 {self._binary_hash[:16]})"

        def libs() -> str:
            missing = [p for p in o["libs"] if not Path(p).is_file()]
            if missing:
                raise HwnasError(f"missing delegate libraries {', '.join(missing)}; fix --option libs=[...]")
            if o["delegate"] == "qnn" and QNN_DELEGATE_LIB not in {Path(p).name for p in o["libs"]}:
                raise HwnasError(f"delegate qnn needs {QNN_DELEGATE_LIB} and its backend libraries in libs")
            return ", ".join(Path(p).name for p in o["libs"]) or "none needed"

        def runs() -> str:
            remote, _ = self._prepare()
            text = self.session().shell(f"{shlex.quote(remote)} 2>&1 | head -5", what="running benchmark_model")
            if "STARTING" not in text:
                raise HwnasError(
                    f"benchmark_model does not run on the device ({text.strip()[:80]!r}); is it built for its ABI "
                    "(android_aarch64)?"
                )
            return remote

        def mask() -> str:
            freqs = self.cpu_max_freqs()
            chosen = self.cpu_mask()
            return f"max kHz by cpu {freqs}; taskset {chosen or 'none'} ({o['num_threads']} threads)"

        ok = (
            step("adb key", lambda: str(adb_key(Path(o["key"]) if o["key"] else None)))
            and step("benchmark_model binary", binary)
            and step("delegate libraries", libs)
            and step("connection and authorisation", lambda: f"{self.session().target}: {self.device_info()}")
            and step("benchmark_model runs on the device", runs)
            and step("big cores", mask)
        )
        if ok and o["libs"]:
            step("delegate libraries on the device", lambda: self._prepare()[1])
        return results

    # ---- the device ------------------------------------------------------------------------------
    def session(self) -> AdbSession:
        if self._session is None:
            o = self.options
            self._session = AdbSession(
                host=o["host"],
                serial=o["serial"],
                key=Path(o["key"]) if o["key"] else None,
                timeout_s=float(o["timeout_s"]),
                connect_timeout_s=float(o["connect_timeout_s"]),
                retries=o["retries"],
                backoff_s=float(o["backoff_s"]),
            )
            self._session.connect()
        return self._session

    def device_info(self) -> dict[str, str]:
        """Model, SoC, Android version and build of the device, its CPUs' governors and maximum frequencies:
        part of the configuration, so two devices (or one set up otherwise) never mix."""
        if self._device_info is None:
            session = self.session()
            text = session.shell("; ".join(f'echo "$(getprop {p})"' for p in PROPS), what="reading device properties")
            values = [*text.splitlines(), *[""] * len(PROPS)][: len(PROPS)]
            info = {p: v.strip() for p, v in zip(PROPS, values, strict=True)}
            governors = session.shell(
                'for f in /sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_governor; do echo "$(cat $f)"; done',
                what="reading CPU governors",
            )
            info["cpu_governors"] = ",".join(sorted({g.strip() for g in governors.splitlines() if g.strip()}))
            info["cpu_max_freq_khz"] = ",".join(str(f) for _, f in sorted(self.cpu_max_freqs().items()))
            self._device_info = info
        return self._device_info

    def cpu_max_freqs(self) -> dict[int, int]:
        text = self.session().shell(
            'for f in /sys/devices/system/cpu/cpu[0-9]*/cpufreq/cpuinfo_max_freq; do echo "$f $(cat $f)"; done',
            what="reading cpuinfo_max_freq",
        )
        return {int(cpu): int(freq) for cpu, freq in _CPU_FREQ.findall(text)}

    def cpu_mask(self) -> str | None:
        if self._mask is None:
            mask = str(self.options["cpu_mask"])
            self._mask = f"{big_core_mask(self.cpu_max_freqs()):x}" if mask == "auto" else mask
        return None if self._mask == "none" else self._mask

    @cached_property
    def _binary_hash(self) -> str:
        return file_hash(Path(self.options["binary"]))

    @cached_property
    def _libs_hash(self) -> str:
        return files_hash([Path(p) for p in self.options["libs"]])

    def _prepare(self) -> tuple[str, str | None]:
        """The binary (and the delegate libraries) on the device, each pushed only when missing there."""
        session, o = self.session(), self.options
        if self._remote_bin is None:
            binary = Path(o["binary"])
            remote = f"{o['device_dir']}/bin/benchmark_model-{self._binary_hash[:16]}"
            self._remote_bin = session.push_once(binary, remote, mode=0o755)
        if o["libs"] and self._remote_libs is None:
            lib_dir = f"{o['device_dir']}/lib-{self._libs_hash[:16]}"
            for lib in o["libs"]:
                session.push_once(Path(lib), f"{lib_dir}/{Path(lib).name}", mode=0o755)
            self._remote_libs = lib_dir
        return self._remote_bin, self._remote_libs

    def command(self, model: str, warmup: int, runs: int) -> str:
        binary, libs = self._prepare()
        o, q = self.options, shlex.quote
        # benchmark_model applies delegates in the order their flags appear (tools/delegates/delegate_provider.h
        # ranks them by position): the delegate under test comes first, so that it takes what it can and XNNPACK
        # only what is left (as an app that asks for the delegate runs); any --use_xnnpack also stops the tool's
        # default XNNPACK, which it would otherwise apply last
        flags = [f"--graph={q(model)}", *self.delegate_flags(libs)]
        flags += [
            f"--use_xnnpack={'true' if o['use_xnnpack'] else 'false'}",
            f"--num_threads={o['num_threads']}",
            f"--warmup_runs={warmup}",
            "--warmup_min_secs=0",
            f"--num_runs={runs}",
            "--min_secs=0",
        ]
        if o["peak_memory"]:
            flags.append("--report_peak_memory_footprint=true")
        if o["op_profiling"]:
            flags.append("--enable_op_profiling=true")
        env = ""
        if libs:
            adsp = f"{libs};/vendor/lib/rfsa/adsp;/vendor/dsp/cdsp;/system/lib/rfsa/adsp;/dsp"
            env = f"LD_LIBRARY_PATH={q(libs)}:$LD_LIBRARY_PATH ADSP_LIBRARY_PATH={q(adsp)} "
        mask = self.cpu_mask()
        pin = f"taskset {mask} " if mask else ""
        # benchmark_model logs to stderr: without 2>&1 the shell returns nothing to parse
        return f"{env}{pin}{q(binary)} {' '.join(flags)} 2>&1"

    def delegate_flags(self, libs: str | None) -> list[str]:
        o, q = self.options, shlex.quote
        delegate = o["delegate"]
        if delegate == "gpu":
            return ["--use_gpu=true"]
        if delegate == "nnapi":
            return ["--use_nnapi=true"]
        if delegate == "hexagon":
            return ["--use_hexagon=true", f"--hexagon_lib_path={q(libs or o['device_dir'])}"]
        if delegate == "qnn":
            return [
                f"--external_delegate_path={q(f'{libs}/{QNN_DELEGATE_LIB}')}",
                f"--external_delegate_options={q(o['qnn_options'])}",
            ]
        return []

    def run_benchmark(self, artifact: Path, warmup: int, runs: int) -> tuple[BenchmarkOutput, Placement | None]:
        session, o = self.session(), self.options
        model = session.push_once(Path(artifact), f"{o['device_dir']}/models/{file_hash(Path(artifact))[:20]}.tflite")
        text = session.shell(self.command(model, warmup, runs), what=f"benchmarking {Path(artifact).name}")
        out = parse(text)
        delegate = o["delegate"]
        placement = self.placement(out, Path(artifact))
        if delegate != "cpu":
            share = placement.share if placement else None
            if share is None or share < float(o["min_delegated_share"]):
                took = "no part" if not share else f"{share:.0%}"
                raise HwnasError(
                    f"delegate {delegate} took {took} of the graph (it fell back to the CPU); "
                    "this op is not measured on the delegate"
                )
        return out, placement


@lru_cache(maxsize=4096)
def _operator_count(artifact: Path) -> int | None:
    """Operators of a .tflite file as LiteRT reads it (None where LiteRT cannot say)."""
    try:
        return sum(operator_counts(artifact).values())
    except Exception:
        return None
