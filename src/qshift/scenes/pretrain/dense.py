"""Dense supervision: which object covers each patch, and the head that learns to say it.

The generator knows what it drew; telling the ViT which patch shows what is a far denser signal
than one caption per image, and makes a 20-minute CPU model bind shape, colour and place
(without it, shape recognition lagged far behind colour).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from qshift.scenes.generator import COLOURS, SHAPES, SIZES, Scene

#: classes of the dense per-patch labels: 0 = no object, then one per shape / colour / size
DENSE_CLASSES = (len(SHAPES) + 1, len(COLOURS) + 1, len(SIZES) + 1)
_SHAPE_ID = {name: i + 1 for i, name in enumerate(SHAPES)}
_COLOUR_ID = {name: i + 1 for i, name in enumerate(COLOURS)}
_SIZE_ID = {name: i + 1 for i, name in enumerate(SIZES)}


def patch_labels(scene: Scene, grid: int) -> np.ndarray:
    """(grid*grid, 3) int64 shape/colour/size class of the object whose disc covers each patch centre."""
    centres = (np.arange(grid) + 0.5) / grid
    dx, dy = centres[None, :], centres[:, None]
    labels = np.zeros((grid, grid, 3), dtype=np.int64)
    for obj in scene.objects:
        inside = (dx - obj.x) ** 2 + (dy - obj.y) ** 2 < (1.05 * obj.radius) ** 2
        labels[inside] = (_SHAPE_ID[obj.shape], _COLOUR_ID[obj.colour], _SIZE_ID[obj.size])
    return labels.reshape(grid * grid, 3)


class DenseHead(nn.Module):
    """Per-patch shape/colour/size classifier on the ViT's output tokens (training only, not shipped)."""

    def __init__(self, width: int):
        super().__init__()
        self.linear = nn.Linear(width, sum(DENSE_CLASSES))

    def loss(self, patch_tokens: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of the three per-patch label kinds; tokens (B, P, W), labels (B, P, 3)."""
        logits = self.linear(patch_tokens).split(DENSE_CLASSES, dim=-1)
        return sum(
            F.cross_entropy(lg.flatten(0, 1), labels[..., k].flatten()) for k, lg in enumerate(logits)
        ) / len(DENSE_CLASSES)
