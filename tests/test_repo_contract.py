"""The README's commands are the contract: CI must run exactly the README's test command."""

import re

from .conftest import REPO


def _block_after(heading: str) -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split(heading, 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_ci_runs_the_readme_test_command():
    (command,) = _block_after("## Run the tests")
    ci_lines = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    assert command in ci_lines
    assert "pip install --quiet torch==2.13.0" in "\n".join(ci_lines).split(command)[0]


def test_readme_main_job_uses_the_embedded_default():
    (command,) = _block_after("## Run the main job")
    assert command.startswith("hwnas search --space avatar --device cpu --speedup ")  # means the same anywhere
    assert "--preset" not in command  # the default preset is the embedded default
