"""The `gesture` task: four hand poses as seen by a low-resolution headset camera, here drawn synthetically
(open hand, fist, point, pinch as stripe, blob, line and two-blob patterns under camera noise). A real plugin
loads its recordings in ``load`` instead; everything else comes from hwnas's image classification."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import numpy as np
from pydantic import Field

from hwnas.api import ClassificationOptions, ImageClassificationTask, LabelledImages, TaskRequest

SIZE = 32  # the largest resolution the gesture space asks for
EXAMPLES = 800


@dataclass(frozen=True)
class GestureOptions(ClassificationOptions):  # label_smoothing, and:
    camera_noise: Annotated[float, Field(ge=0, le=2)] = 0.6  # std of the sensor noise on the drawn poses


class GestureTask(ImageClassificationTask):
    name = "gesture"
    Options = GestureOptions

    @classmethod
    def load(cls, request: TaskRequest) -> LabelledImages:
        noise = cls.read_options(request).camera_noise
        rng = np.random.default_rng(request.seed)
        y, x = np.mgrid[:SIZE, :SIZE] / SIZE
        poses = [
            np.sin(12 * y),  # open hand: fingers as stripes
            np.exp(-((x - 0.5) ** 2 + (y - 0.5) ** 2) / 0.05),  # fist: one blob
            (np.abs(x - y) < 0.08).astype(float),  # point: one line
            np.exp(-((x - 0.35) ** 2 + (y - 0.5) ** 2) / 0.01) + np.exp(-((x - 0.65) ** 2 + (y - 0.5) ** 2) / 0.01),
        ]
        labels = rng.integers(0, len(poses), EXAMPLES)
        images = np.stack([poses[k] for k in labels])[:, None] + noise * rng.standard_normal((EXAMPLES, 1, SIZE, SIZE))
        return LabelledImages.split(images.astype(np.float32), labels, test_share=0.25, seed=request.seed)
