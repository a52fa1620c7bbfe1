"""The generic image-classification task: a subclass brings arrays, the task does the rest."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from hwnas.core.errors import HwnasError
from hwnas.space import get_preset
from hwnas.space.architecture import Architecture
from hwnas.space.network import ArchitectureNetwork
from hwnas.tasks.classification import ImageClassificationTask, LabelledImages
from hwnas.train.objective import TaskRequest
from hwnas.train.trainer import TrainConfig, fit

SPACE = get_preset("digits", "tiny")  # one view of one channel, one branch of 10 logits


def stripes(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Four classes a network tells apart only by looking: horizontal, vertical, diagonal stripes, or a blob."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:32, :32]
    patterns = [np.sin(y / 2.0), np.sin(x / 2.0), np.sin((x + y) / 2.0), np.exp(-((x - 16) ** 2 + (y - 16) ** 2) / 60)]
    labels = rng.integers(0, 4, n)
    images = np.stack([patterns[k] for k in labels])[:, None] + 0.5 * rng.standard_normal((n, 1, 32, 32))
    return images.astype(np.float32), labels


class StripesTask(ImageClassificationTask):
    name = "stripes"

    @classmethod
    def load(cls, request: TaskRequest) -> LabelledImages:
        return LabelledImages.split(*stripes(seed=request.seed), test_share=0.25, seed=request.seed)


def test_a_subclass_that_brings_arrays_trains_and_scores():
    task = StripesTask.create(TaskRequest("tiny", seed=1, space=SPACE))
    assert task.key == "image.logits" and len(task.test_pool()) == 150 and len(task.train_pool()) == 450
    torch.manual_seed(0)
    net = ArchitectureNetwork(Architecture.sample(SPACE, random.Random(0)), SPACE)
    fit(net, task, TrainConfig(steps=150, batch=64, lr=1e-2, schedule="constant"), progress=False)
    metrics = task.evaluate(net)
    assert metrics["test_accuracy"] > 0.6, metrics  # chance is 0.25 (the space offers 10 logits, 4 are used)
    assert "chance 0.250" in task.summary(metrics)[0]


def test_label_smoothing_is_the_tasks_option_and_changes_only_the_training_loss():
    plain = StripesTask.create(TaskRequest("tiny", space=SPACE))
    smooth = StripesTask.create(TaskRequest("tiny", space=SPACE, options={"label_smoothing": 0.2}))
    batch = plain.batch(plain.train_pool()[:32])
    outputs = {"image.logits": torch.randn(32, 10, generator=torch.Generator().manual_seed(0))}
    assert not torch.isclose(plain.loss(outputs, batch, 0), smooth.loss(outputs, batch, 0))
    assert torch.isclose(plain.selection_loss(outputs, batch, 0), smooth.selection_loss(outputs, batch, 0))
    with pytest.raises(HwnasError, match="label_smoothing: Input should be less than 1"):
        StripesTask.create(TaskRequest("tiny", space=SPACE, options={"label_smoothing": 1.0}))


@pytest.mark.parametrize(
    ("images", "labels", "test", "needle"),
    [
        (torch.zeros(4, 1, 8, 8), torch.zeros(5, dtype=torch.long), torch.tensor([1, 0, 0, 0]), "labels (N,)"),
        (torch.zeros(4, 8, 8), torch.zeros(4, dtype=torch.long), torch.tensor([1, 0, 0, 0]), "images (N, C, H, W)"),
        (torch.zeros(4, 1, 8, 8), torch.zeros(4, dtype=torch.long), torch.zeros(4), "hold out some examples"),
    ],
)
def test_malformed_arrays_are_one_line(images, labels, test, needle):
    with pytest.raises(HwnasError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        LabelledImages(images, labels, test.bool())
