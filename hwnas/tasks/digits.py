"""The `digits` task: scikit-learn's bundled 8x8 handwritten digits, upsampled, for the classifier space.

It is small enough that a whole search and the training of its result take seconds on a CPU, and it
ships inside an installed package, so nothing is downloaded.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from hwnas.core.errors import HwnasError
from hwnas.train.objective import Task, TaskRequest

IMAGE_RES = 32  # stored resolution; the network's view resolution is chosen by the search
TEST_SHARE = 0.2
STEPS = {"tiny": 30, "small": 300}  # default search and training steps per preset


def load_digits_tensors(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Images (N, 1, 32, 32) scaled to mean 0 / std 1, labels (N,), and a boolean test mask (20%, by seed)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise HwnasError("the digits space needs scikit-learn: pip install 'hwnas[digits]'") from None
    raw = load_digits()
    images = torch.tensor(raw.images, dtype=torch.float32)[:, None] / 16.0
    images = F.interpolate(images, size=(IMAGE_RES, IMAGE_RES), mode="bilinear", align_corners=False)
    images = (images - images.mean()) / images.std()
    labels = torch.tensor(raw.target, dtype=torch.long)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    test = torch.zeros(len(labels), dtype=torch.bool)
    test[order[: int(TEST_SHARE * len(labels))]] = True
    return images, labels, test


class DigitsTask(Task):
    """Cross-entropy on the logits branch; accuracy on the held-out 20%."""

    name = "digits"
    batch_size = 64

    def __init__(self, seed: int = 0, view: str = "image", branch: str = "logits", preset: str = "small"):
        super().__init__()
        self.images, self.labels, self.test = load_digits_tensors(seed)
        self.key = f"{view}.{branch}"
        self.search_steps = self.train_steps = STEPS.get(preset, 1000)

    @classmethod
    def create(cls, request: TaskRequest) -> DigitsTask:
        if request.data is not None:
            raise HwnasError("the digits task uses scikit-learn's bundled digits and takes no --data")
        if request.space is None:
            return cls(request.seed, preset=request.preset)
        (view, branch), *rest = request.space.branches
        if rest:
            raise HwnasError(f"the digits task needs a space with one branch, {request.space.space!r} has several")
        return cls(request.seed, view, branch, request.preset)

    def train_pool(self) -> torch.Tensor:
        return torch.nonzero(~self.test).flatten()

    def test_pool(self) -> torch.Tensor:
        return torch.nonzero(self.test).flatten()

    def batch(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"views": self.images[idx], "labels": self.labels[idx]}

    def loss(self, outputs, batch, step):
        return F.cross_entropy(outputs[self.key], batch["labels"])

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
        return [
            f"test accuracy {metrics['test_accuracy']:.3f} on {metrics['test_frames']} held-out digits "
            f"(train {metrics['train_accuracy']:.3f}; chance 0.100)"
        ]
