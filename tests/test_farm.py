"""A device farm on Ray: two Quest 2s (adb peers on loopback running LiteRT) profile avatar/tiny into one store."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

import psutil
import pytest

from hwnas.measure.adb import file_hash
from hwnas.measure.artifacts import ArtifactCache
from hwnas.measure.profiler import reference_op
from hwnas.space import get_preset

from .adb_peer import AdbPeer
from .conftest import REPO, run_hwnas, space_command
from .test_adb import PROPS, binary, workdir  # noqa: F401 (fixtures)

pytest.importorskip("ray", reason="needs the distributed extra: pip install '.[distributed]'")
pytestmark = pytest.mark.slow
N_OPS = len(get_preset("avatar", "tiny").enumerate_ops())


@pytest.fixture
def peers(tmp_path):
    devices = [AdbPeer(tmp_path / f"device{i}", PROPS) for i in range(2)]
    for d in devices:
        d.start()
    yield devices
    for d in devices:
        d.stop()


def farm_command(peers, binary, workdir) -> list[str]:  # noqa: F811
    farm = [arg for p in peers for arg in ("--farm", f"127.0.0.1:{p.port}")]
    return space_command("profile", *farm, "--option", f"binary={binary}", "--no-progress", device="quest2",
                         workdir=workdir)  # fmt: skip


def models_run(peer: AdbPeer) -> list[str]:
    return [m for c in peer.commands for m in re.findall(r"--graph=\S*/([^/\s]+\.tflite)", c)]


def stored(workdir) -> list[tuple[str, str]]:  # noqa: F811
    with sqlite3.connect(workdir / "measurements.sqlite") as db:
        return db.execute("SELECT op_key, status FROM measurements WHERE device = 'quest2'").fetchall()


def test_two_devices_profile_one_store_and_a_killed_worker_hands_its_ops_on(peers, binary, workdir, tmp_path):  # noqa: F811
    env = {**os.environ, "PYTHONPATH": str(REPO), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    proc = subprocess.Popen([sys.executable, "-m", "hwnas", *farm_command(peers, binary, workdir)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    ref = ArtifactCache(workdir / "artifacts").path(reference_op(get_preset("avatar", "tiny").enumerate_ops()),
                                                    "tflite")  # fmt: skip
    reference = f"{file_hash(ref)[:20]}.tflite"  # the name the backend gives it on the device

    def ops_run(peer: AdbPeer) -> set[str]:
        return {m for m in models_run(peer) if m != reference}

    deadline = time.monotonic() + 180
    while min(len(ops_run(p)) for p in peers) < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()[1][-3000:]  # the profile must still be running
    ours = psutil.Process(proc.pid).children(recursive=True)  # the local Ray instance this profile started
    workers = [p for p in ours if "ray::DeviceWorker" in " ".join(p.cmdline())]
    assert proc.poll() is None and len(workers) == 2, proc.communicate()[1][-3000:]
    workers[0].send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert f"{N_OPS} ops, 0 already in the store, {N_OPS} measured now, 0 failed" in out
    assert "lost: 127.0.0.1:" in out
    rows = stored(workdir)
    assert len(rows) == N_OPS and {s for _, s in rows} == {"ok"}  # every op once, nothing lost with the device

    # each device calibrates on the drift reference; every other op ran on one device only, but for the one the
    # killed device was measuring
    a, b = (ops_run(p) for p in peers)
    assert len(a & b) <= 1
    assert len(a) >= 2 and len(b) >= 2  # both devices took part

    again = run_hwnas(*farm_command(peers, binary, workdir), env=env)
    assert again.returncode == 0 and f"{N_OPS} already in the store, 0 measured now" in again.stdout


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--farm", "127.0.0.1:5555", "--host", "127.0.0.1:5556"], "--farm names the devices"),
        (["--farm", "127.0.0.1:5555", "--farm", "127.0.0.1:5555"], "a device is named twice in --farm"),
        (["--ray-address", "auto"], "--ray-address applies to --farm only"),
    ],
)
def test_farm_misuse_is_one_line(extra, message, tmp_path):
    r = run_hwnas(*space_command("profile", *extra, device="quest2", workdir=tmp_path / "work"))
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "work" / "measurements.sqlite").exists()
