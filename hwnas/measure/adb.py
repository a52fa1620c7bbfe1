"""A session with one Android device over adb-shell: key, connection (TCP or USB), shell with timeouts,
files pushed by content hash, retries with backoff and reconnects.

Faults are sorted into two kinds so that a profile can tell them apart: a lost or unreachable device raises
``DeviceUnreachable`` (the profile stops; the store keeps what was measured), a command that ran past its
timeout while the device still answers raises ``CommandTimeout`` (one op fails; the run goes on).
"""

from __future__ import annotations

import hashlib
import os
import shlex
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from filelock import FileLock

from hwnas.core.errors import BackendUnavailable, DeviceFault, HwnasError, one_line

T = TypeVar("T")
DEFAULT_DEVICE_DIR = "/data/local/tmp/hwnas"


class DeviceUnreachable(BackendUnavailable, DeviceFault):
    """The device cannot be reached (or was lost and did not come back after the retries)."""


class CommandTimeout(DeviceFault):
    """A command ran past its timeout on a device that still answers."""


def config_dir() -> Path:
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "hwnas"


def adb_key(path: Path | None = None) -> Path:
    """The RSA key hwnas authenticates with; created (0600, public half beside it) when missing."""
    from adb_shell.auth.keygen import keygen

    path = Path(path) if path else config_dir() / "adbkey"
    public = Path(str(path) + ".pub")
    if not (path.is_file() and public.is_file()):
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path) + ".lock"):  # the devices of a farm start at once and must not read a half key
            if not path.is_file():
                old = os.umask(0o077)
                try:
                    keygen(str(path))
                finally:
                    os.umask(old)
            if not public.is_file():
                raise HwnasError(f"adb key {path} has no public half {public}; remove {path} to make a new pair")
    os.chmod(path, 0o600)
    return path


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def files_hash(paths: list[Path]) -> str:
    """One hash of several files, their names included (a delegate's libraries are found by name)."""
    digest = hashlib.sha256()
    for p in sorted(paths, key=lambda p: p.name):
        digest.update(p.name.encode() + b"\0" + file_hash(p).encode())
    return digest.hexdigest()


def _transport_errors() -> tuple[type[BaseException], ...]:
    from adb_shell import exceptions as e

    return (
        OSError,  # refused, reset, broken pipe, socket timeouts
        e.AdbConnectionError,
        e.AdbTimeoutError,
        e.TcpTimeoutException,
        e.InvalidChecksumError,
        e.InvalidCommandError,
        e.InvalidResponseError,
        e.UsbReadFailedError,
        e.UsbWriteFailedError,
    )


def not_authorised(target: str) -> str:
    return (
        f"device {target} did not authorise this computer; accept the 'Allow USB debugging' prompt on the device "
        "(on a Quest: inside the headset, tick 'Always allow') and re-run"
    )


def describe_connect_error(exc: BaseException, target: str) -> str:
    """One line naming what went wrong when connecting and how to fix it."""
    from adb_shell import exceptions as e

    name = type(exc).__name__
    if "Busy" in name or "LIBUSB_ERROR_BUSY" in str(exc):
        return (
            f"USB device {target} is held by a running adb server; stop it with `adb kill-server`, or switch the "
            "device to TCP with `adb tcpip 5555` and pass --host <device-ip>:5555"
        )
    if isinstance(exc, e.UsbDeviceNotFoundError):
        return f"no USB device {target} found; plug it in and enable USB debugging, or pass --host <ip>:5555"
    if isinstance(exc, e.DeviceAuthError):
        return not_authorised(target)
    if isinstance(exc, ConnectionRefusedError):
        return f"nothing listens at {target}; on the device run `adb tcpip 5555` (over USB) and check the address"
    if isinstance(exc, (socket.timeout, TimeoutError, e.TcpTimeoutException)):
        return f"no answer from {target}; check that the device is on and on the same network"
    return f"cannot connect to {target}: {one_line(exc)}"


def _tcp_transport(host: str, port: int):
    """adb-shell's TCP transport, except that a connection the device closed is an error at once: adb-shell
    itself reads the closed socket's empty reads until its read timeout runs out."""
    from adb_shell.transport.tcp_transport import TcpTransport

    class ClosingTcpTransport(TcpTransport):
        def bulk_read(self, numbytes, transport_timeout_s):
            data = super().bulk_read(numbytes, transport_timeout_s)
            if numbytes and not data:
                raise ConnectionResetError(f"{host}:{port} closed the connection")
            return data

    return ClosingTcpTransport(host, port)


class AdbSession:
    """One device; connects on first use. Not thread-safe (neither is a device's benchmark)."""

    def __init__(
        self,
        host: str = "",
        serial: str = "",
        key: Path | None = None,
        timeout_s: float = 120.0,
        connect_timeout_s: float = 10.0,
        retries: int = 3,
        backoff_s: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if bool(host) == bool(serial):
            raise BackendUnavailable(
                "no device address: pass --host <ip>:<port> (after `adb tcpip 5555`) or --serial <usb-serial>"
            )
        if host:
            addr, sep, port = host.rpartition(":")
            if not sep or not addr or not port.isdigit():
                raise HwnasError(f"--host must be <ip-or-name>:<port>, e.g. 192.168.1.20:5555, not {host!r}")
            self.address: tuple[str, int] | None = (addr, int(port))
        else:
            self.address = None
        self.serial = serial
        self.target = host or f"usb:{serial}"
        self.key = key
        self.timeout_s, self.connect_timeout_s = timeout_s, connect_timeout_s
        self.retries, self.backoff_s, self.sleep = retries, backoff_s, sleep
        self._device = None
        self._present: set[str] = set()  # device paths known to exist (pushed or listed this session)

    # ---- connection ------------------------------------------------------------------------------
    def connect(self) -> None:
        from adb_shell.adb_device import AdbDevice
        from adb_shell.auth.sign_pythonrsa import PythonRSASigner

        key = adb_key(self.key)
        signer = PythonRSASigner(Path(str(key) + ".pub").read_text(), key.read_text())
        if self.address:
            device = AdbDevice(_tcp_transport(*self.address), default_transport_timeout_s=self.connect_timeout_s)
        else:
            from adb_shell.adb_device import AdbDeviceUsb
            from adb_shell.exceptions import InvalidTransportError

            try:
                device = AdbDeviceUsb(serial=self.serial, default_transport_timeout_s=self.connect_timeout_s)
            except InvalidTransportError:  # adb-shell's USB transport needs libusb1
                raise BackendUnavailable(
                    "USB needs the usb extra (pip install 'hwnas[usb]'); or use TCP: `adb tcpip 5555`, "
                    "then --host <device-ip>:5555"
                ) from None
        prompted = []  # adb-shell calls back just before it offers our public key for the user to accept
        try:
            device.connect(
                rsa_keys=[signer],
                transport_timeout_s=self.connect_timeout_s,
                auth_timeout_s=self.connect_timeout_s,
                read_timeout_s=self.connect_timeout_s,
                auth_callback=lambda _device: prompted.append(True),
            )
        except Exception as exc:
            device.close()
            if prompted and not isinstance(exc, ConnectionError):
                raise DeviceUnreachable(not_authorised(self.target)) from None
            raise DeviceUnreachable(describe_connect_error(exc, self.target)) from None
        self._device = device

    def close(self) -> None:
        if self._device is not None:
            try:
                self._device.close()
            finally:
                self._device = None

    def _retrying(self, what: str, action: Callable[[], T]) -> T:
        """Run ``action`` on a connected device; reconnect and retry (with backoff) when the wire fails."""
        errors = _transport_errors()
        last: BaseException | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                self.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                if self._device is None:
                    self.connect()
                return action()
            except DeviceUnreachable as exc:
                last = exc
            except errors as exc:
                last = exc
                self.close()
        reason = str(last) if isinstance(last, DeviceUnreachable) else one_line(last)
        raise DeviceUnreachable(
            f"lost device {self.target} while {what} ({reason}) after {self.retries + 1} attempts; "
            "reconnect it and re-run: what was measured is kept"
        )

    # ---- commands --------------------------------------------------------------------------------
    def shell(self, command: str, timeout_s: float | None = None, what: str | None = None) -> str:
        """Run ``command`` (stderr merged) and return its output. A run past ``timeout_s`` on a device that
        still answers raises CommandTimeout; a lost device is retried, then DeviceUnreachable."""
        from adb_shell.exceptions import AdbTimeoutError, TcpTimeoutException

        limit = timeout_s or self.timeout_s

        def run() -> str:
            try:
                return self._device.shell(
                    command, transport_timeout_s=limit, read_timeout_s=limit, timeout_s=limit, decode=True
                )
            except (AdbTimeoutError, TcpTimeoutException):
                self.close()
                if self._alive():
                    raise CommandTimeout(f"`{command[:80]}` ran past {limit:.0f} s on {self.target}") from None
                raise

        return self._retrying(what or f"running `{command[:60]}`", run)

    def _alive(self) -> bool:
        try:
            self.connect()
            return self._device.shell("echo alive", read_timeout_s=self.connect_timeout_s).strip() == "alive"
        except Exception:
            self.close()
            return False

    def push_once(self, local: Path, remote: str, mode: int = 0o644) -> str:
        """Push ``local`` to ``remote`` unless the device has it already. Written to ``remote.part`` and renamed,
        so a push cut short never counts as present."""
        if remote in self._present:
            return remote
        q = shlex.quote(remote)
        if self.shell(f"test -f {q} && echo present || echo absent", what=f"checking {remote}").strip() == "present":
            self._present.add(remote)
            return remote
        part = remote + ".part"

        def push() -> None:
            self._device.shell(f"mkdir -p {shlex.quote(os.path.dirname(remote))}", read_timeout_s=self.timeout_s)
            self._device.push(str(local), part, st_mode=0o100000 | mode, read_timeout_s=self.timeout_s)

        self._retrying(f"pushing {local.name}", push)
        self.shell(f"chmod {mode:o} {shlex.quote(part)} && mv -f {shlex.quote(part)} {q}", what=f"placing {remote}")
        self._present.add(remote)
        return remote
