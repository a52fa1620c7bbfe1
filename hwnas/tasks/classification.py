"""Image classification from arrays: the task a plugin subclasses (or instantiates) for its own labelled images.

Cross-entropy (with optional label smoothing, the task's option) on the logits of a one-branch space;
accuracy on the held-out examples. A subclass brings only its data::

    class GestureTask(ImageClassificationTask):
        name = "gesture"

        @classmethod
        def load(cls, request):
            images, labels = my_loader(request.data)  # (N, C, H, W) float, (N,) int
            return LabelledImages.split(images, labels, test_share=0.2, seed=request.seed)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

import torch
import torch.nn.functional as F
from pydantic import Field

from hwnas.core.errors import HwnasError
from hwnas.train.objective import Task, TaskRequest


@dataclass(frozen=True)
class LabelledImages:
    images: torch.Tensor  # (N, channels, H, W) float, at the largest resolution a space may ask for
    labels: torch.Tensor  # (N,) long, 0 .. classes - 1
    test: torch.Tensor  # (N,) bool: held out from training and search

    def __post_init__(self) -> None:
        n = len(self.labels)
        if self.images.ndim != 4 or len(self.images) != n or self.test.shape != (n,):
            raise HwnasError(
                f"labelled images need images (N, C, H, W), labels (N,) and a test mask (N,); got "
                f"{tuple(self.images.shape)}, {tuple(self.labels.shape)}, {tuple(self.test.shape)}"
            )
        if not 0 < int(self.test.sum()) < n:
            raise HwnasError("the test mask must hold out some examples and leave some to train on")

    @classmethod
    def split(cls, images: Any, labels: Any, test_share: float = 0.2, seed: int = 0) -> LabelledImages:
        """Arrays (numpy or torch) with a random ``test_share`` held out, drawn from ``seed``."""
        images = torch.as_tensor(images, dtype=torch.float32)
        labels = torch.as_tensor(labels, dtype=torch.long)
        order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
        test = torch.zeros(len(labels), dtype=torch.bool)
        test[order[: int(test_share * len(labels))]] = True
        return cls(images, labels, test)


@dataclass(frozen=True)
class ClassificationOptions:
    label_smoothing: Annotated[float, Field(ge=0, lt=1)] = 0.0


class ImageClassificationTask(Task):
    """Cross-entropy on one branch's logits; accuracy on the held-out examples."""

    name = "classification"
    Options = ClassificationOptions
    batch_size = 64
    steps: ClassVar[dict[str, int]] = {"tiny": 30, "small": 300}  # default search and training steps per preset

    def __init__(
        self,
        data: LabelledImages,
        view: str = "image",
        branch: str = "logits",
        preset: str = "small",
        label_smoothing: float = 0.0,
    ):
        super().__init__()
        self.images, self.labels, self.test = data.images, data.labels, data.test
        self.key, self.label_smoothing = f"{view}.{branch}", label_smoothing
        self.search_steps = self.train_steps = self.steps.get(preset, 1000)

    @classmethod
    def load(cls, request: TaskRequest) -> LabelledImages:
        """The task's labelled images for the request (its seed, its ``--data`` file)."""
        raise NotImplementedError(f"task {cls.name!r}: implement load(request) to return LabelledImages")

    @classmethod
    def create(cls, request: TaskRequest) -> ImageClassificationTask:
        view, branch = cls.logits_branch(request)
        smoothing = cls.read_options(request).label_smoothing
        return cls(cls.load(request), view, branch, request.preset, smoothing)

    @classmethod
    def logits_branch(cls, request: TaskRequest) -> tuple[str, str]:
        """The (view, branch) of the space's one branch, whose outputs are the logits."""
        if request.space is None:
            return "image", "logits"
        (view, branch), *rest = request.space.branches
        if rest:
            raise HwnasError(f"the {cls.name} task needs a space with one branch, {request.space.space!r} has several")
        return view, branch

    def train_pool(self) -> torch.Tensor:
        return torch.nonzero(~self.test).flatten()

    def test_pool(self) -> torch.Tensor:
        return torch.nonzero(self.test).flatten()

    def batch(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"views": self.images[idx], "labels": self.labels[idx]}

    def loss(self, outputs, batch, step):
        return F.cross_entropy(outputs[self.key], batch["labels"], label_smoothing=self.label_smoothing)

    def selection_loss(self, outputs, batch, step):
        """Plain cross-entropy: smoothing helps the weights train, not the choice between architectures."""
        return F.cross_entropy(outputs[self.key], batch["labels"])

    def score(self, outputs, batch) -> float:
        return float(F.cross_entropy(outputs[self.key], batch["labels"]))

    @torch.no_grad()
    def accuracy(self, net: torch.nn.Module, idx: torch.Tensor) -> float:
        was_training = net.training
        net.eval()
        logits = torch.cat([net(self.batch(chunk)["views"])[self.key] for chunk in idx.split(256)])
        net.train(was_training)
        return float((logits.argmax(1) == self.labels[idx]).float().mean())

    def evaluate(self, net: torch.nn.Module) -> dict[str, Any]:
        return {
            "params": sum(p.numel() for p in net.parameters()),
            "test_accuracy": self.accuracy(net, self.test_pool()),
            "train_accuracy": self.accuracy(net, self.train_pool()),
            "test_frames": int(self.test.sum()),
        }

    def summary(self, metrics: dict[str, Any]) -> list[str]:
        classes = int(self.labels.max()) + 1
        return [
            f"test accuracy {metrics['test_accuracy']:.3f} on {metrics['test_frames']} held-out examples "
            f"(train {metrics['train_accuracy']:.3f}; chance {1 / classes:.3f})"
        ]
