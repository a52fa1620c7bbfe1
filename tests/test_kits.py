"""The conformance kits of spaces and tasks: the built-ins pass them, and a plugin that breaks a promise is told
which one (the op-type kit: tests/test_op_types.py; the backend kit: tests/test_plugins.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from hwnas.testing import check_space, check_task

from .conftest import REPO
from .test_plugins import make_plugin


@pytest.mark.parametrize("space", ["avatar", "digits", "mobile"])
def test_every_built_in_space_passes_the_kit(space):
    assert "check_supernet_children" in check_space(space, ("tiny",))


@pytest.mark.parametrize(("task", "space"), [("avatar", "avatar"), ("digits", "digits"), ("digits", "mobile")])
def test_every_built_in_task_passes_the_kit_on_its_spaces(task, space):
    assert "check_loss" in check_task(task, space)


def test_a_space_whose_task_is_missing_is_told_so(tmp_path):
    declared = (REPO / "searchspaces" / "digits.toml").read_text().replace('task = "digits"', 'task = "gesture"')
    (tmp_path / "mine.toml").write_text(declared)
    with pytest.raises(AssertionError) as failed:
        check_space(str(tmp_path / "mine.toml"), ("tiny",))
    assert "fails 1 check(s)" in str(failed.value)
    assert "check_task_installed: HwnasError: space 'digits' declares task 'gesture'" in str(failed.value)


LEAKY = """
    import torch

    from hwnas.api import ImageClassificationTask, LabelledImages


    class LeakyTask(ImageClassificationTask):
        name = "leaky"

        @classmethod
        def load(cls, request):
            g = torch.Generator().manual_seed(request.seed)
            images, labels = torch.randn(64, 1, 32, 32, generator=g), torch.randint(0, 10, (64,), generator=g)
            return LabelledImages.split(images, labels)

        def train_pool(self):
            return torch.arange(len(self.labels))  # every example, the held-out ones too

        def selection_loss(self, outputs, batch, step):
            return torch.tensor(1.0)  # a constant: no architecture is ever preferred
"""


def test_a_task_that_breaks_its_promises_is_told_which(tmp_path):
    env = make_plugin(tmp_path / "site", "leaky", LEAKY, "[hwnas.tasks]\nleaky = leaky:LeakyTask\n")
    space = tmp_path / "leaky.toml"
    space.write_text((REPO / "searchspaces" / "digits.toml").read_text().replace('task = "digits"', 'task = "leaky"'))
    script = (
        "from hwnas.testing import check_task\n"
        f"try:\n    check_task('leaky', {str(space)!r})\nexcept AssertionError as exc:\n    print(exc)\n"
    )
    r = subprocess.run([sys.executable, "-c", script], env={**os.environ, **env}, capture_output=True, text=True,
                       timeout=300)  # fmt: skip
    assert "task 'leaky' fails 2 check(s)" in r.stdout, r.stdout + r.stderr
    assert "check_pools: AssertionError: 12 examples are in both pools" in r.stdout
    assert "check_loss: AssertionError: selection_loss does not depend on the network's outputs" in r.stdout
