"""User-facing errors: the CLI prints them as one line and exits with code 2."""


def list_keys(keys: list[str], limit: int = 5) -> str:
    """The first few keys and how many more: long lists stay one readable line."""
    shown = ", ".join(keys[:limit])
    return shown + (f" (+{len(keys) - limit} more)" if len(keys) > limit else "")


class HwnasError(Exception):
    """A problem with the user's input or environment, stated with its fix."""


class BackendUnavailable(HwnasError):
    """A backend cannot run here (missing extra, device not reachable, ...)."""


class DeviceFault(HwnasError):
    """A run failed because of the device, not the op (it hung, the connection dropped): several in a row stop a
    profile (``DeviceFailed``)."""


class DeviceFailed(HwnasError):
    """A profile stopped because its device kept failing; the CLI exits with ``EXIT_DEVICE_FAILED``."""


class OpKeyError(HwnasError):
    """An op key (or candidate op) that does not parse."""


class MissingOpsError(HwnasError):
    """A latency table lacks keys that a caller asked for."""

    def __init__(self, missing: list[str], fill_command: str):
        self.missing = missing
        super().__init__(
            f"{len(missing)} op(s) missing from the latency table: {list_keys(missing)}; fill them with: {fill_command}"
        )


def one_line(exc: BaseException) -> str:
    """``Type: first line of the message`` — how a failure is recorded and shown."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__
