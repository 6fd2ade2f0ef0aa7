"""R@1 of a scenes model on a split: the check at the end of ``qshift pretrain scenes``."""

from __future__ import annotations

import torch

from qshift.data.base import RetrievalDataset
from qshift.metrics import top1_both_ways
from qshift.scenes.model import SceneEncoder


@torch.inference_mode()
def recall_at_1(encoder: SceneEncoder, dataset: RetrievalDataset) -> dict[str, float]:
    """Full-matrix R@1 (percent) in both directions: ``{"i2t_r1": .., "t2i_r1": ..}``."""
    imgs = torch.cat(
        [
            encoder.embed_images([dataset.images[i] for i in range(s, min(s + 250, dataset.num_images))])
            for s in range(0, dataset.num_images, 250)
        ]
    )
    txts = encoder.embed_texts(list(dataset.texts))
    i2t, t2i = top1_both_ways(imgs @ txts.T, dataset.image_groups, dataset.text_groups)
    return {"i2t_r1": i2t, "t2i_r1": t2i}
