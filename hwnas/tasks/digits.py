"""The `digits` task: scikit-learn's bundled 8x8 handwritten digits, upsampled, for the classifier space.

It is small enough that a whole search and the training of its result take seconds on a CPU, and it
ships inside an installed package, so nothing is downloaded.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from hwnas.core.errors import HwnasError
from hwnas.tasks.classification import ImageClassificationTask, LabelledImages
from hwnas.train.objective import TaskRequest

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
    data = LabelledImages.split(images, raw.target, TEST_SHARE, seed)
    return data.images, data.labels, data.test


class DigitsTask(ImageClassificationTask):
    """Cross-entropy on the logits branch; accuracy on the held-out 20% (the generic image classification)."""

    name = "digits"

    def __init__(
        self,
        seed: int = 0,
        view: str = "image",
        branch: str = "logits",
        preset: str = "small",
        label_smoothing: float = 0.0,
    ):
        super().__init__(LabelledImages(*load_digits_tensors(seed)), view, branch, preset, label_smoothing)

    @classmethod
    def create(cls, request: TaskRequest) -> DigitsTask:
        if request.data is not None:
            raise HwnasError("the digits task uses scikit-learn's bundled digits and takes no --data")
        view, branch = cls.logits_branch(request)
        return cls(request.seed, view, branch, request.preset, cls.read_options(request).label_smoothing)
