"""The `mnist1d` task: MNIST-1D (Greydanus 2020, "Scaling down deep learning"), ten digits as 40-sample 1-D
signals, built offline by the `mnist1d` package from its templates with the published arguments (seed 42:
4,000 training and 1,000 test examples, the paper's split). Published test accuracies: logistic regression
32 %, MLP 68 %, GRU 91 %, CNN 94 %; the baseline ``mnist1d-cnn`` is that CNN (three strided 1-D convolutions of 25
channels and a linear layer)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Annotated, ClassVar

import numpy as np
import torch
from pydantic import Field
from torch import nn

from hwnas.api import ClassificationOptions, HwnasError, ImageClassificationTask, LabelledImages, TaskRequest

LENGTH = 40  # samples per signal, the dataset's final_seq_length
TRAIN = 4000  # the published split: the first 4,000 examples train, the last 1,000 test


@dataclass(frozen=True)
class Mnist1dOptions(ClassificationOptions):  # label_smoothing, and:
    train_examples: Annotated[int, Field(ge=100, le=TRAIN)] = TRAIN  # the first N of the training split


@cache
def mnist1d_arrays() -> tuple[np.ndarray, np.ndarray]:
    """Signals (5000, 40) and labels (5000,), training examples first, as ``make_dataset`` builds them."""
    from mnist1d.data import get_dataset_args, make_dataset

    data = make_dataset(get_dataset_args())
    return np.concatenate([data["x"], data["x_test"]]), np.concatenate([data["y"], data["y_test"]])


class Mnist1dTask(ImageClassificationTask):
    name = "mnist1d"
    Options = Mnist1dOptions
    baselines: ClassVar[tuple[str, ...]] = ("mnist1d-cnn",)
    steps: ClassVar[dict[str, int]] = {"tiny": 100, "small": 2000}
    batch_size, learning_rate = 100, 1e-2  # the paper's (Adam, 6,000 steps): its CNN reaches 94 % so

    @classmethod
    def load(cls, request: TaskRequest) -> LabelledImages:
        if request.data is not None:
            raise HwnasError("the mnist1d task builds MNIST-1D itself and takes no --data")
        keep = cls.read_options(request).train_examples
        x, y = mnist1d_arrays()
        x, y = np.concatenate([x[:keep], x[TRAIN:]]), np.concatenate([y[:keep], y[TRAIN:]])
        test = torch.zeros(len(y), dtype=torch.bool)
        test[keep:] = True
        signals = torch.as_tensor(x, dtype=torch.float32)[:, None, None, :]  # (N, 1 view, height 1, 40)
        return LabelledImages(signals, torch.as_tensor(y, dtype=torch.long), test)

    def baseline(self, name: str) -> nn.Module:
        return self.reference_network(name, "small", self.key)

    @classmethod
    def reference_network(cls, name: str, preset: str, key: str = "signal.logits") -> nn.Module:
        if name != "mnist1d-cnn":
            raise HwnasError(f"unknown mnist1d baseline {name!r}; known: mnist1d-cnn")
        return PublishedCNN(key)


class PublishedCNN(nn.Module):
    """The CNN of the MNIST-1D paper: 1-D convolutions 1 -> 25 (k5), 25 -> 25 (k3), 25 -> 25 (k3), each of
    stride 2 and padding 1 with ReLU, then a linear layer on the flattened 25 x 5 features."""

    def __init__(self, key: str, channels: int = 25):
        super().__init__()
        self.key = key
        self.features = nn.Sequential(
            nn.Conv1d(1, channels, 5, 2, 1), nn.ReLU(),
            nn.Conv1d(channels, channels, 3, 2, 1), nn.ReLU(),
            nn.Conv1d(channels, channels, 3, 2, 1), nn.ReLU(),
        )  # fmt: skip
        self.linear = nn.Linear(channels * 5, 10)

    def forward(self, views: torch.Tensor) -> dict[str, torch.Tensor]:
        """``views``: (batch, 1, 1, 40), the task's signals."""
        return {self.key: self.linear(self.features(views.flatten(1, 2)).flatten(1))}
