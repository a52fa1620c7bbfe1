"""The adb-tflite backend against a real adb peer on loopback (tests/adb_peer.py), which runs the pushed
.tflite with LiteRT through a stand-in benchmark_model; the peer itself is checked with Google's adb client."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import stat
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from hwnas.core.errors import BackendUnavailable, DeviceFailed
from hwnas.lut import LatencyTable
from hwnas.lut.build import build_table
from hwnas.measure.adb import adb_key
from hwnas.measure.artifacts import ArtifactCache
from hwnas.measure.backends.adb_tflite import DELEGATE_NAMES, AdbTFLiteBackend, big_core_mask
from hwnas.measure.benchmark_output import parse
from hwnas.measure.devices import get_device
from hwnas.measure.profiler import Profiler
from hwnas.measure.store import MeasurementStore
from hwnas.space import get_preset

from .adb_peer import AdbPeer, Faults
from .conftest import run_hwnas, space_command

pytest.importorskip("ai_edge_litert", reason="needs the tflite extra: pip install '.[tflite]'")

PROPS = {
    "ro.product.name": "hollywood",
    "ro.product.model": "Quest 2",
    "ro.board.platform": "kona",
    "ro.build.version.release": "10",
    "ro.build.fingerprint": "oculus/hollywood/hollywood:10/QQ3A.200805.001/test:user/release-keys",
}


@pytest.fixture
def peer(tmp_path):
    device = AdbPeer(tmp_path / "device", PROPS)
    device.start()
    yield device
    device.stop()


@pytest.fixture(scope="module")
def binary(tmp_path_factory) -> Path:
    """The user-supplied benchmark_model: here the LiteRT stand-in behind a shebang."""
    path = tmp_path_factory.mktemp("bin") / "benchmark_model"
    path.write_text(f"#!{sys.executable}\n" + (Path(__file__).parent / "peer_benchmark_model.py").read_text())
    path.chmod(0o755)
    return path


@pytest.fixture
def workdir(tmp_path, tflite_tiny) -> Path:
    """A fresh work folder holding the session's converted avatar/tiny artifacts."""
    work = tmp_path / "work"
    shutil.copytree(tflite_tiny["workdir"] / "artifacts", work / "artifacts")
    return work


def test_the_key_is_created_private_once(tmp_path):
    key = adb_key(tmp_path / "cfg" / "adbkey")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and Path(str(key) + ".pub").is_file()
    first = key.read_bytes()
    assert adb_key(key).read_bytes() == first


def test_processes_starting_at_once_all_read_one_whole_key(tmp_path):
    """The devices of a farm start together on a fresh machine: none may read the key before its public half."""
    key = tmp_path / "cfg" / "adbkey"
    read_pair = (
        "import sys; from pathlib import Path; from hwnas.measure.adb import adb_key; "
        "k = adb_key(Path(sys.argv[1])); print(k.read_text() + Path(str(k) + '.pub').read_text())"
    )
    procs = [subprocess.Popen([sys.executable, "-c", read_pair, str(key)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]  # fmt: skip
    results = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in results]
    assert len({out for out, _ in results}) == 1  # one pair, the same for all


def test_big_cores_are_found_from_max_frequencies():
    snapdragon_865 = {c: f for c, f in enumerate((1804800,) * 4 + (2419200,) * 3 + (2841600,))}
    assert big_core_mask(snapdragon_865) == 0xF0
    assert big_core_mask({0: 1766400, 1: 1766400, 2: 2803200, 3: 2803200}) == 0b1100
    assert big_core_mask({0: 2000000, 1: 2000000}) == 0b11  # one cluster: every core


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(shutil.which("adb") is None, reason="Google's adb client (Debian package adb) is not installed")
def test_googles_adb_client_connects_runs_pushes_and_pulls(peer, tmp_path):
    env = {**os.environ, "HOME": str(tmp_path / "home"), "ANDROID_ADB_SERVER_PORT": str(_free_port())}
    (tmp_path / "home").mkdir()
    serial = f"127.0.0.1:{peer.port}"

    def adb(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["adb", *args], env=env, capture_output=True, text=True, timeout=30)

    try:
        adb("connect", serial)  # a new key: the peer accepts it as a user tapping "Allow" would
        assert any(
            line.split() == [serial, "device"] for _ in range(50) for line in adb("devices").stdout.splitlines()
        ), adb("devices").stdout
        assert adb("-s", serial, "shell", "echo", "hello").stdout.strip() == "hello"
        payload = tmp_path / "payload.bin"
        payload.write_bytes(os.urandom(300_000))  # several sync DATA chunks
        r = adb("-s", serial, "push", str(payload), "/data/local/tmp/x/payload.bin")
        assert r.returncode == 0, r.stderr
        assert (peer.root / "data/local/tmp/x/payload.bin").read_bytes() == payload.read_bytes()
        size = adb("-s", serial, "shell", "wc -c < /data/local/tmp/x/payload.bin").stdout.strip()
        assert size == "300000"
        r = adb("-s", serial, "pull", "/data/local/tmp/x/payload.bin", str(tmp_path / "back.bin"))
        assert r.returncode == 0 and (tmp_path / "back.bin").read_bytes() == payload.read_bytes()
    finally:
        adb("kill-server")


def test_profile_quest2_builds_the_full_tiny_table(peer, binary, workdir, tmp_path):
    env = {"XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    extra = ["--host", f"127.0.0.1:{peer.port}", "--option", f"binary={binary}", "--no-progress"]
    r = run_hwnas(*space_command("profile", *extra, device="quest2", workdir=workdir), env=env)
    assert r.returncode == 0, r.stderr
    assert "45 ops, 0 already in the store, 45 measured now, 0 failed" in r.stdout
    assert (tmp_path / "cfg/hwnas/adbkey").is_file()
    assert set((peer.root / ".taskset").read_text().split()) == {"f0"}  # the 4 big cores of an 865
    runs = [c for c in peer.commands if "--graph=" in c]
    assert all("--num_threads=4" in c and c.endswith("2>&1") for c in runs)
    with sqlite3.connect(workdir / "measurements.sqlite") as db:
        (config,) = db.execute("SELECT config_json FROM configs WHERE device = 'quest2'").fetchone()
        rows = db.execute("SELECT samples_json FROM measurements WHERE status = 'ok'").fetchall()
    config = json.loads(config)
    assert config["backend"] == "adb-tflite" and config["versions"]["ro.product.model"] == "Quest 2"
    assert "host" not in config["options"] and "binary" not in config["options"]
    assert len(rows) == 45 and all("summary" in json.loads(s) for (s,) in rows)  # benchmark_model's statistics
    pushed = len(peer.pushes)
    # the binary once, each op once, the overhead model once, each calibration network once
    assert pushed == 1 + 45 + 1 + 12

    # the same device by another address: nothing measured or pushed again
    extra[1] = f"localhost:{peer.port}"
    again = run_hwnas(*space_command("profile", *extra, device="quest2", workdir=workdir), env=env)
    assert again.returncode == 0 and "45 already in the store, 0 measured now" in again.stdout
    assert len(peer.pushes) == pushed
    # the table is built from the store alone: the device gone, no address, no binary
    peer.stop()
    lut = run_hwnas(*space_command("build-lut", device="quest2", workdir=workdir, lut_dir=tmp_path / "lut"), env=env)
    assert lut.returncode == 0, lut.stderr
    table = LatencyTable.load(tmp_path / "lut/quest2/avatar-tiny.csv")
    assert len(table.frame) == 45
    versions = table.metadata["versions"]  # the device's identity, as it said it when the ops were measured
    assert (versions["ro.product.model"], versions["ro.board.platform"], versions["ro.build.version.release"]) == (
        "Quest 2", "kona", "10")  # fmt: skip
    assert versions["cpu_governors"] == "schedutil"
    assert versions["cpu_max_freq_khz"] == "1804800,1804800,1804800,1804800,2419200,2419200,2419200,2841600"
    assert (table.frame.peak_memory_mb > 0).all()  # --report_peak_memory_footprint, stored beside the latency
    assert (table.frame.placement == "").all()  # the CPU preset: no delegate to place anything
    shown = run_hwnas("lut", "show", str(tmp_path / "lut/quest2/avatar-tiny.csv"))
    assert "peak memory per op: min" in shown.stdout and "placement" not in shown.stdout


def test_a_device_that_is_not_there_is_one_clear_line(binary, workdir, tmp_path):
    closed = _free_port()
    extra = ["--host", f"127.0.0.1:{closed}", "--option", f"binary={binary}"]
    r = run_hwnas(*space_command("profile", *extra, device="quest2", workdir=workdir),
                  env={"XDG_CONFIG_HOME": str(tmp_path / "cfg")})  # fmt: skip
    assert r.returncode == 4 and "Traceback" not in r.stderr  # the device failed, not the input
    assert "nothing listens at 127.0.0.1" in r.stderr and "adb tcpip 5555" in r.stderr
    assert not (workdir / "measurements.sqlite").exists()  # refused before anything was written


def test_an_unauthorised_device_says_to_accept_the_prompt(peer, binary, tmp_path):
    peer.authorize = False
    with pytest.raises(BackendUnavailable, match="Allow USB debugging"):
        _backend(peer, binary, tmp_path, retries=0, connect_timeout_s=1.0).check()


def _backend(peer, binary, tmp_path, **options) -> AdbTFLiteBackend:
    where = {"host": f"127.0.0.1:{peer.port}", "binary": str(binary), "key": str(tmp_path / "cfg/adbkey")}
    return AdbTFLiteBackend({**where, "backoff_s": 0.05, **options})


def _ok_rows(workdir: Path) -> dict[str, float]:
    with MeasurementStore(workdir / "measurements.sqlite") as store:
        (cid,) = [row[0] for row in store.conn.execute("SELECT config_id FROM configs")]
        return {k: r.measured_at for k, r in store.results("quest2", cid).items() if r.status == "ok"}


def _profile(peer, binary, workdir, tmp_path, specs, retry_failed=False, **options):
    device = get_device("quest2")
    backend = _backend(peer, binary, tmp_path, **options)
    # one measurement per op (µs-resolution timings of tiny ops are noisy; re-measuring would blur the counts)
    settings = replace(device.profile, runs=5, noise_threshold=100.0)
    device = replace(device, options={**device.options, **backend.options}, profile=settings)
    with MeasurementStore(workdir / "measurements.sqlite") as store:
        profiler = Profiler(device, backend, store, ArtifactCache(workdir / "artifacts"))
        return profiler.run(specs, progress=False, retry_failed=retry_failed)


SPECS = get_preset("avatar", "tiny").enumerate_ops()[:6]


@pytest.mark.parametrize(
    "fault, failed_first",
    [
        (Faults(drop_push_after_bytes=200), 0),  # retried: reconnect, push again from the start
        (Faults(drop_runs=1), 0),  # retried: the run is repeated
        # the first two runs calibrate (overhead, reference); the third, an op's, goes wrong: that op is recorded
        # as failed with the reason, the rest go on
        (Faults(garble_runs=1, skip_runs=2), 1),
        (Faults(hang_runs=1, skip_runs=2), 1),  # past timeout_s on a device that still answers: that op fails
    ],
    ids=["dropped-mid-push", "dropped-mid-run", "garbled-output", "hang-past-timeout"],
)
def test_faults_leave_the_store_complete_and_resumable(peer, binary, workdir, tmp_path, fault, failed_first):
    peer.faults = fault
    report = _profile(peer, binary, workdir, tmp_path, SPECS, timeout_s=3.0)
    assert len(report.failed) == failed_first, report.failed
    if failed_first:
        reason = report.failed[0][1]
        assert "printed no timing" in reason or "ran past 3 s" in reason
    assert not any(p.endswith(".part") for p in os.listdir(peer.root / "data/local/tmp/hwnas/models"))
    before = _ok_rows(workdir)
    again = _profile(peer, binary, workdir, tmp_path, SPECS, retry_failed=True, timeout_s=3.0)
    assert again.measured == failed_first and not again.failed
    after = _ok_rows(workdir)
    assert set(after) == {s.key for s in SPECS}
    assert all(after[k] == at for k, at in before.items())  # nothing measured twice


def test_a_device_that_goes_away_stops_the_profile_and_it_resumes_on_return(peer, binary, workdir, tmp_path):
    peer.faults = Faults(vanish_after_runs=4)  # the overhead and reference calibrations, then two ops
    with pytest.raises(BackendUnavailable, match="lost device"):
        _profile(peer, binary, workdir, tmp_path, SPECS)
    before = _ok_rows(workdir)
    assert len(before) == 2
    back = AdbPeer(peer.root, PROPS)  # the same device (its files kept) at a new address
    back.start()
    try:
        report = _profile(back, binary, workdir, tmp_path, SPECS)
    finally:
        back.stop()
    assert report.already_done == 2 and report.measured == 4 and not report.failed
    after = _ok_rows(workdir)
    assert set(after) == {s.key for s in SPECS} and all(after[k] == at for k, at in before.items())
    assert not any(p.endswith("benchmark_model") for p in back.pushes)  # the binary was already there


def test_a_delegate_that_takes_nothing_is_a_failure_not_a_cpu_number(peer, binary, workdir, tmp_path):
    report = _profile(peer, binary, workdir, tmp_path, SPECS[:2], delegate="gpu")
    assert len(report.failed) == 2
    assert all("delegate gpu took no part of the graph" in reason for _, reason in report.failed)
    assert any("--use_gpu=true" in c for c in peer.commands)


def test_doctor_walks_through_each_step_and_names_the_fix(peer, binary, tmp_path):
    env = {"XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    host = f"127.0.0.1:{peer.port}"
    r = run_hwnas("doctor", "--device", "quest2", "--host", host, "--option", f"binary={binary}", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("[ok]") == 6 and "taskset f0" in r.stdout and "Quest 2" in r.stdout
    missing = run_hwnas("doctor", "--device", "quest2", "--host", host, env=env)
    assert missing.returncode == 1 and "[FAIL] benchmark_model binary" in missing.stdout
    assert "--option binary=" in missing.stdout and "connection" not in missing.stdout  # stops at the first


def test_the_delegate_under_test_comes_before_xnnpack_and_its_placement_is_stored(peer, binary, workdir, tmp_path):
    """benchmark_model applies delegates in the order of their flags: the peer does too, so the GPU preset is
    measured on the GPU only because its flag comes first; the tool's own count of the nodes it took is kept."""
    gpu_peer = AdbPeer(tmp_path / "gpu-device", PROPS, delegates=("GPU",))
    gpu_peer.start()
    try:
        report = _profile(gpu_peer, binary, workdir, tmp_path, SPECS[:2], delegate="gpu")
    finally:
        gpu_peer.stop()
    assert not report.failed, report.failed
    # the overhead model (an identity: no operator to place) is not a delegate that fell back
    assert not report.calibration_failed, report.calibration_failed
    runs = [c for c in gpu_peer.commands if "--graph=" in c]
    assert all(c.index("--use_gpu=true") < c.index("--use_xnnpack=") for c in runs)
    with MeasurementStore(workdir / "measurements.sqlite") as store:
        (cid,) = [row[0] for row in store.conn.execute("SELECT config_id FROM configs")]
        stored = store.results("quest2", cid)
    placements = {r.measurement.extra["placement"] for r in stored.values()}
    assert placements and all(p.startswith("gpu ") and p.endswith(" nodes, 1 partition") for p in placements)
    assert all(r.measurement.extra["peak_memory_mb"] > 0 for r in stored.values())

    # the order before this fix: XNNPACK first takes the graph and the GPU gets nothing, which the output says
    model = next((gpu_peer.root / "data/local/tmp/hwnas/models").glob("*.tflite"))
    old = subprocess.run([str(binary), f"--graph={model}", "--use_xnnpack=true", "--use_gpu=true", "--num_runs=2"],
                         cwd=gpu_peer.root, capture_output=True, text=True, timeout=120)  # fmt: skip
    out = parse(old.stdout + old.stderr)
    assert out.delegate_share(DELEGATE_NAMES["gpu"]) == 0.0
    assert out.delegate_share(("XNNPACK",)) == 1.0


def test_a_hung_device_stops_the_profile_within_two_timeouts(peer, binary, workdir, tmp_path):
    peer.faults = Faults(hang_runs=1000)
    start = time.perf_counter()
    with pytest.raises(DeviceFailed, match=r"failed 2 runs in a row .*ran past 1 s.*re-run the same command"):
        _profile(peer, binary, workdir, tmp_path, SPECS, timeout_s=1.0, retries=0)
    assert time.perf_counter() - start < 20  # two timeouts and the connection, not one per op
    env = {"XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    extra = ["--host", f"127.0.0.1:{peer.port}", "--option", f"binary={binary}", "--option", "timeout_s=1",
             "--option", "retries=0", "--no-progress"]  # fmt: skip
    r = run_hwnas(*space_command("profile", *extra, device="quest2", workdir=workdir), env=env)
    assert r.returncode == 4, r.stdout + r.stderr
    assert r.stderr.count("\n") == 1 and "failed 2 runs in a row" in r.stderr


def test_a_garbled_calibration_is_repaired_on_the_next_profile(peer, binary, workdir, tmp_path):
    """The first run (the overhead) garbled: the table still builds, saying so; the next profile, with every op
    stored, measures the overhead again and the table gets it."""
    peer.faults = Faults(garble_runs=1)
    first = _profile(peer, binary, workdir, tmp_path, SPECS)
    assert not first.failed and first.measured == len(SPECS)
    assert len(first.calibration_failed) == 1 and first.calibration_failed[0].startswith("overhead")
    device, preset = get_device("quest2"), _Preset(SPECS)
    backend = AdbTFLiteBackend({"binary": "", "host": ""})  # built from the store alone: no device, no binary
    with MeasurementStore(workdir / "measurements.sqlite") as store:
        table = build_table(store, device, backend, preset)
    assert table.metadata["per_inference_overhead_ms"] is None
    assert "not measured (its calibration failed; re-run profile)" in "\n".join(table.summary())
    again = _profile(peer, binary, workdir, tmp_path, SPECS)
    assert again.already_done == len(SPECS) and again.measured == 0 and not again.calibration_failed
    with MeasurementStore(workdir / "measurements.sqlite") as store:
        table = build_table(store, device, backend, preset)
    assert table.metadata["per_inference_overhead_ms"] > 0


def test_printed_hints_carry_the_users_device_options(peer, binary, workdir, tmp_path):
    extra = ["--host", f"127.0.0.1:{peer.port}", "--option", f"binary={binary}", "--option", "num_threads=2"]
    r = run_hwnas(*space_command("build-lut", *extra, device="quest2", workdir=workdir, lut_dir=tmp_path / "lut"))
    assert r.returncode == 2
    hint = r.stderr.split("; run: ")[1].strip()
    assert f"--host 127.0.0.1:{peer.port}" in hint and "--option num_threads=2" in hint
    assert f"--option 'binary=\"{binary}\"'" in hint  # the printed command runs as printed


class _Preset:
    space, preset = "avatar", "tiny"

    def __init__(self, specs):
        self.specs = specs

    def enumerate_ops(self):
        return list(self.specs)


def test_a_preset_for_another_soc_is_refused_with_the_override_named(peer, binary, tmp_path):
    pixel3 = get_device("pixel3")  # a Snapdragon 845 preset, on a device that says it is a Quest 2 (kona)
    backend = _backend(peer, binary, tmp_path, **{k: v for k, v in pixel3.options.items() if k == "expected_soc"})
    with pytest.raises(BackendUnavailable, match=r"Quest 2 with SoC platform 'kona', not the 'sdm845'.*expected_soc="):
        backend.check()
    _backend(peer, binary, tmp_path, expected_soc="").check()  # measured anyway, when the user says so


def test_a_whole_model_is_broken_down_per_op_and_kept_with_its_peak_memory(peer, binary, workdir, tmp_path):
    env = {"XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    model = next((workdir / "artifacts").rglob("*.tflite"))
    args = ["profile", "--device", "quest2", "--host", f"127.0.0.1:{peer.port}", "--option", f"binary={binary}",
            "--model", str(model), "--op-profile", "--workdir", str(workdir)]  # fmt: skip
    r = run_hwnas(*args, env=env)
    assert r.returncode == 0, r.stderr
    kept = json.loads((workdir / "models" / "quest2" / f"{model.name}.json").read_text())
    told = kept["measurement"]["extra"]
    assert told["peak_memory_mb"] > 0 and f"peak memory mb {told['peak_memory_mb']}" in r.stdout
    node_types = [row["node_type"] for row in told["op_profile"]]
    assert node_types and all(t.isupper() for t in node_types)  # TFLite's builtin op names, as the tool lists them
    assert f"{len(node_types)} ops, " in r.stdout and node_types[0] in r.stdout
    assert any("--enable_op_profiling=true" in c for c in peer.commands)
    cpu = run_hwnas("profile", "--device", "cpu", "--model", str(model), "--op-profile", "--workdir", str(workdir))
    assert cpu.returncode == 2 and "cannot break a model down per op" in cpu.stderr
