"""What the conformance kits share: run every check, collect what failed, raise once naming each failure."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


class Skipped(Exception):
    """A check that does not apply to what is checked, or cannot run here."""


def run_checks(what: str, checks: Sequence[Callable[[Any], None]], kit: Any) -> list[str]:
    """Run ``checks`` on ``kit`` in order; the first is the gate (nothing else can run when it fails). Returns
    the names of the checks that passed; raises one AssertionError listing each failure with its reason."""
    failures, passed = [], []
    for check in checks:
        try:
            check(kit)
        except Skipped:
            continue
        except Exception as exc:
            failures.append(f"{check.__name__}: {type(exc).__name__}: {exc}")
            if check is checks[0]:
                break
        else:
            passed.append(check.__name__)
    if failures:
        raise AssertionError(f"{what} fails {len(failures)} check(s):\n  " + "\n  ".join(failures))
    return passed
