"""The README's commands are the contract: CI must install as the README says and run its test command."""

import re

from .conftest import REPO


def _block_after(heading: str) -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split(heading, 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


def _ci_lines() -> list[str]:
    return [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]


def test_ci_installs_as_the_readme_says_then_runs_its_test_command():
    install = _block_after("## Install")
    (command,) = _block_after("## Run the tests")
    ci = _ci_lines()
    assert install[0] == "pip install torch==2.13.0"  # the CPU build, before anything that depends on torch
    positions = [ci.index(line) for line in [*install, command]]  # each line verbatim, in the README's order
    assert positions == sorted(positions)
    assert ci[-1] == command  # nothing after the tests can fail CI unseen


def test_ci_smoke_tests_the_wheel_before_the_suite():
    ci = _ci_lines()
    smoke = next(i for i, line in enumerate(ci) if line.startswith(".ci/wheel-smoke dist/"))
    assert smoke < ci.index(_block_after("## Run the tests")[0])
    assert (REPO / ".ci" / "wheel-smoke").stat().st_mode & 0o111  # executable


def test_readme_main_job_uses_the_embedded_default():
    (command,) = _block_after("## Run the main job")
    assert command.startswith("hwnas search --space avatar --device cpu --speedup ")  # means the same anywhere
    assert "--preset" not in command  # the default preset is the embedded default
