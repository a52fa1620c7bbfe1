"""The `digits` task: scikit-learn's bundled 8x8 handwritten digits, upsampled, for the classifier space.

It is small enough that a whole search and the training of its result take seconds on a CPU, and it
ships inside an installed package, so nothing is downloaded.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from hwnas.errors import HwnasError
from hwnas.search.task import SearchTask

IMAGE_RES = 32  # stored resolution; the network's view resolution is chosen by the search
TEST_SHARE = 0.2


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


class DigitsTask(SearchTask):
    """Cross-entropy on the logits branch; accuracy on the held-out 20%."""

    def __init__(self, seed: int = 0, view: str = "image", branch: str = "logits"):
        super().__init__()
        self.images, self.labels, self.test = load_digits_tensors(seed)
        self.key = f"{view}.{branch}"

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
