"""An adbd on loopback for the tests: the device side of the adb wire protocol, with fault injection.

It speaks what a real adbd speaks to a host (CNXN with version negotiation, AUTH with RSA token signing and
public-key acceptance, OPEN/OKAY/WRTE/CLSE streams with one-packet flow control, the ``shell:`` service and
the ``sync:`` file service: STAT, LIST, SEND, RECV, QUIT) and is checked against Google's own ``adb`` client
as well as adb-shell. Shell commands run in a real ``/bin/sh`` inside a sandbox folder: device paths
(/data, /sys, /vendor, /system, /sdcard) are mapped under it, ``getprop`` answers from ``props`` and
``taskset`` records its mask (this host may have fewer cores than the mask names) before running the command.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import socket
import struct
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils


def _cmd(name: bytes) -> int:
    return int.from_bytes(name, "little")


CNXN, AUTH, OPEN, OKAY, CLSE, WRTE = (_cmd(n) for n in (b"CNXN", b"AUTH", b"OPEN", b"OKAY", b"CLSE", b"WRTE"))
AUTH_TOKEN, AUTH_SIGNATURE, AUTH_RSAPUBLICKEY = 1, 2, 3
VERSION_SKIP_CHECKSUM = 0x01000001
MAX_PAYLOAD = 256 * 1024
_DEVICE_PATH = re.compile(r"(?<![\w.-])/(data|sys|vendor|system|sdcard)(?=/|\b)")


class Dropped(Exception):
    """The peer cut the connection on purpose (fault injection)."""


@dataclass
class Faults:
    """One-shot faults: each counter is spent as it fires."""

    drop_push_after_bytes: int | None = None  # cut the connection once this many bytes of a push arrived
    drop_runs: int = 0  # benchmark runs after which the connection is cut midway through the output
    hang_runs: int = 0  # benchmark runs that never answer
    garble_runs: int = 0  # benchmark runs whose output is replaced by noise
    vanish_after_runs: int | None = None  # the device goes away (stops listening) after this many runs
    skip_runs: int = 0  # the drop/hang/garble faults spare this many benchmark runs first


def android_public_key(blob: bytes) -> rsa.RSAPublicKey:
    """Decode adb's public key (base64 of: u32 words, u32 n0inv, n[words] LE, rr[words] LE, u32 e)."""
    raw = base64.b64decode(blob.split(b"\0")[0].split(b" ")[0])
    words = struct.unpack_from("<I", raw, 0)[0]
    n = int.from_bytes(raw[8 : 8 + 4 * words], "little")
    e = struct.unpack_from("<I", raw, 8 + 8 * words)[0]
    return rsa.RSAPublicNumbers(e, n).public_key()


@dataclass
class AdbPeer:
    root: Path
    props: dict[str, str] = field(default_factory=dict)
    cpu_max_freq_khz: tuple[int, ...] = (1804800,) * 4 + (2419200,) * 3 + (2841600,)
    authorize: bool = True  # accept a new public key (the user tapping "Allow" on the device)
    faults: Faults = field(default_factory=Faults)
    delegates: tuple[str, ...] = ()  # what the device offers besides XNNPACK: GPU, NNAPI, Hexagon, EXTERNAL

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.keys: list[rsa.RSAPublicKey] = []
        self.commands: list[str] = []  # every shell command, as the host sent it
        self.pushes: list[str] = []  # device paths of completed pushes
        self.runs = 0  # benchmark runs answered
        self._server: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        (self.root / "data/local/tmp").mkdir(parents=True, exist_ok=True)
        for cpu, freq in enumerate(self.cpu_max_freq_khz):
            d = self.root / f"sys/devices/system/cpu/cpu{cpu}/cpufreq"
            d.mkdir(parents=True, exist_ok=True)
            (d / "cpuinfo_max_freq").write_text(f"{freq}\n")
            (d / "scaling_governor").write_text("schedutil\n")
        (self.root / ".delegates").write_text(" ".join(self.delegates) + "\n")
        shims = self.root / ".shims"
        shims.mkdir(exist_ok=True)
        props = "\n".join(f"{k}={v}" for k, v in self.props.items())
        (self.root / ".props").write_text(props + "\n")
        (shims / "getprop").write_text(f'#!/bin/sh\ngrep "^$1=" {self.root}/.props | cut -d= -f2-\n')
        (shims / "taskset").write_text(f'#!/bin/sh\necho "$1" >> {self.root}/.taskset\nshift\nexec "$@"\n')
        for shim in shims.iterdir():
            shim.chmod(0o755)

    # ---- server ----------------------------------------------------------------------------------
    def start(self) -> int:
        self._server = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._accept, daemon=True).start()
        return self._server.getsockname()[1]

    @property
    def port(self) -> int:
        return self._server.getsockname()[1]

    def stop(self) -> None:
        """The device is gone: nothing listens any more and open connections are cut."""
        if self._server:
            self._server.close()
        with self._lock:
            for c in self._conns:
                self._shut(c)

    @staticmethod
    def _shut(conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_RDWR)
        conn.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            with self._lock:
                self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            _Connection(self, conn).run()
        except (Dropped, OSError, ConnectionError, struct.error):
            pass
        finally:
            self._shut(conn)

    # ---- the device's file system ----------------------------------------------------------------
    def local(self, device_path: str) -> Path:
        return Path(_DEVICE_PATH.sub(lambda m: f"{self.root}/{m.group(1)}", device_path))

    def rewrite(self, command: str) -> str:
        return _DEVICE_PATH.sub(lambda m: f"{self.root}/{m.group(1)}", command)


class _Connection:
    def __init__(self, peer: AdbPeer, conn: socket.socket):
        self.peer, self.conn = peer, conn
        self.version = 0x01000000
        self.maxdata = MAX_PAYLOAD
        self.next_id = 1
        self.sync: dict[int, _SyncStream] = {}

    # ---- wire ------------------------------------------------------------------------------------
    def recv_exact(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.conn.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("host closed the connection")
            buf += chunk
        return buf

    def read(self) -> tuple[int, int, int, bytes]:
        cmd, a0, a1, length, _check, magic = struct.unpack("<6I", self.recv_exact(24))
        if magic != cmd ^ 0xFFFFFFFF:
            raise ConnectionError("bad magic")
        return cmd, a0, a1, self.recv_exact(length) if length else b""

    def send(self, cmd: int, a0: int, a1: int, data: bytes = b"") -> None:
        check = 0 if self.version >= VERSION_SKIP_CHECKSUM else sum(data) & 0xFFFFFFFF
        self.conn.sendall(struct.pack("<6I", cmd, a0, a1, len(data), check, cmd ^ 0xFFFFFFFF) + data)

    def write_stream(self, local: int, remote: int, data: bytes) -> None:
        """WRTE in chunks, each waiting for the host's OKAY (adb's flow control)."""
        for i in range(0, len(data), self.maxdata):
            self.send(WRTE, local, remote, data[i : i + self.maxdata])
            while True:
                cmd, a0, a1, payload = self.read()
                if cmd == OKAY and a1 == local:
                    break
                if cmd == CLSE and a1 == local:
                    raise Dropped("host closed the stream")
                self.dispatch(cmd, a0, a1, payload)

    # ---- protocol --------------------------------------------------------------------------------
    def run(self) -> None:
        cmd, version, maxdata, _banner = self.read()
        if cmd != CNXN:
            return
        self.version = min(version, VERSION_SKIP_CHECKSUM)
        self.maxdata = min(maxdata, MAX_PAYLOAD)
        self.authenticate()
        props = ";".join(f"{k}={v}" for k, v in self.peer.props.items() if k.startswith("ro.product."))
        self.send(CNXN, self.version, self.maxdata, f"device::{props};\0".encode())
        while True:
            self.dispatch(*self.read())

    def authenticate(self) -> None:
        token = os.urandom(20)
        self.send(AUTH, AUTH_TOKEN, 0, token)
        while True:
            cmd, kind, _, data = self.read()
            if cmd != AUTH:
                continue
            if kind == AUTH_SIGNATURE:
                for key in self.peer.keys:
                    try:
                        key.verify(data, token, padding.PKCS1v15(), utils.Prehashed(hashes.SHA1()))
                        return
                    except Exception:
                        continue
                token = os.urandom(20)
                self.send(AUTH, AUTH_TOKEN, 0, token)
            elif kind == AUTH_RSAPUBLICKEY:
                if not self.peer.authorize:
                    continue  # the prompt on the device is never accepted: the host waits, then gives up
                self.peer.keys.append(android_public_key(data))
                return

    def dispatch(self, cmd: int, a0: int, a1: int, data: bytes) -> None:
        if cmd == OPEN:
            self.open(a0, data.rstrip(b"\0").decode())
        elif cmd == WRTE and a1 in self.sync:
            self.send(OKAY, a1, a0)
            self.sync[a1].feed(data)
        elif cmd == CLSE and self.sync.pop(a1, None) is not None:
            self.send(CLSE, a1, a0)  # a stream the host closes is closed back; one already closed is ignored

    def open(self, remote: int, service: str) -> None:
        local = self.next_id
        self.next_id += 1
        if service.startswith("shell:"):
            self.send(OKAY, local, remote)
            self.shell(local, remote, service[len("shell:") :])
            self.send(CLSE, local, remote)
        elif service == "sync:":
            self.send(OKAY, local, remote)
            self.sync[local] = _SyncStream(self, local, remote)
        else:
            self.send(CLSE, 0, remote)  # unknown service: refused

    def shell(self, local: int, remote: int, command: str) -> None:
        peer, faults = self.peer, self.peer.faults
        peer.commands.append(command)
        benchmark = "--graph=" in command
        if benchmark and faults.vanish_after_runs is not None and peer.runs >= faults.vanish_after_runs:
            peer.stop()
            raise Dropped("the device went away")
        peer.runs += benchmark
        benchmark = benchmark and peer.runs > faults.skip_runs
        if benchmark and faults.hang_runs:
            faults.hang_runs -= 1
            while True:  # never answers; the host gives up and closes the connection
                self.read()
        env = {**os.environ, "PATH": f"{peer.root / '.shims'}:{os.environ.get('PATH', '')}"}
        done = subprocess.run(
            ["/bin/sh", "-c", peer.rewrite(command)],
            cwd=peer.root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        output = done.stdout
        if benchmark and faults.garble_runs:
            faults.garble_runs -= 1
            output = bytes(range(256)) * 4
        if benchmark and faults.drop_runs:
            faults.drop_runs -= 1
            self.write_stream(local, remote, output[: len(output) // 2])
            raise Dropped("connection cut in the middle of a benchmark run")
        if output:
            self.write_stream(local, remote, output)


class _SyncStream:
    """The ``sync:`` service: requests are id(4) + length(4, LE) + payload, split across WRTEs at will."""

    def __init__(self, conn: _Connection, local: int, remote: int):
        self.conn, self.local, self.remote = conn, local, remote
        self.buf = b""
        self.receiving: tuple[Path, Path, int] | None = None  # (part file, final file, mode) during SEND
        self.received = 0

    def reply(self, data: bytes) -> None:
        self.conn.write_stream(self.local, self.remote, data)

    def feed(self, data: bytes) -> None:
        self.buf += data
        while len(self.buf) >= 8:
            kind, n = self.buf[:4], struct.unpack("<I", self.buf[4:8])[0]
            if kind == b"DONE" and self.receiving:  # DONE carries the mtime, not a length
                self.buf = self.buf[8:]
                self.finish_send()
                continue
            if len(self.buf) < 8 + n:
                return
            payload, self.buf = self.buf[8 : 8 + n], self.buf[8 + n :]
            self.request(kind, payload)

    def request(self, kind: bytes, payload: bytes) -> None:
        peer = self.conn.peer
        if kind == b"DATA" and self.receiving:
            with open(self.receiving[0], "ab") as f:
                f.write(payload)
            self.received += len(payload)
            limit = peer.faults.drop_push_after_bytes
            if limit is not None and self.received >= limit:
                peer.faults.drop_push_after_bytes = None
                raise Dropped("connection cut in the middle of a push")
            return
        path = payload.decode()
        if kind == b"STAT":
            local = peer.local(path)
            st = local.stat() if local.exists() else None
            mode, size, mtime = (st.st_mode, st.st_size, int(st.st_mtime)) if st else (0, 0, 0)
            self.reply(b"STAT" + struct.pack("<3I", mode, size & 0xFFFFFFFF, mtime))
        elif kind == b"LIST":
            out = b""
            local = peer.local(path)
            for entry in sorted(local.iterdir()) if local.is_dir() else []:
                st = entry.stat()
                name = entry.name.encode()
                out += b"DENT" + struct.pack("<4I", st.st_mode, st.st_size, int(st.st_mtime), len(name)) + name
            self.reply(out + b"DONE" + bytes(16))
        elif kind == b"SEND":
            target, _, mode = path.rpartition(",")
            final = peer.local(target)
            final.parent.mkdir(parents=True, exist_ok=True)
            part = final.with_name(final.name + ".peer-incoming")
            part.write_bytes(b"")
            self.receiving, self.received = (part, final, int(mode or "420")), 0
        elif kind == b"RECV":
            local = peer.local(path)
            if not local.is_file():
                msg = b"No such file or directory"
                self.reply(b"FAIL" + struct.pack("<I", len(msg)) + msg)
                return
            data = local.read_bytes()
            out = b"".join(
                b"DATA" + struct.pack("<I", len(data[i : i + 65536])) + data[i : i + 65536]
                for i in range(0, len(data), 65536)
            )
            self.reply(out + b"DONE" + bytes(4))
        elif kind == b"QUIT":
            self.conn.sync.pop(self.local, None)
            self.conn.send(CLSE, self.local, self.remote)

    def finish_send(self) -> None:
        part, final, mode = self.receiving
        part.replace(final)
        final.chmod(mode & 0o777)
        self.receiving = None
        self.conn.peer.pushes.append(str(final))
        self.reply(b"OKAY" + bytes(4))


def wait_for(predicate, timeout: float = 10.0) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False
