"""``qshift pretrain scenes``: train the embedded benchmark's source model on the CPU.

Recipe: symmetric InfoNCE (CLIP loss) with a learnable temperature between the ViT image tower
and the frozen all-MiniLM-L6-v2 text tower plus a trained projection, with swapped-attribute
hard-negative captions and a dense per-patch loss on the generator's own labels. MiniLM is
frozen, so its pooled caption features are computed once before training. Each step renders
fresh training scenes and gives most of them the photometric and geometric variety of real
photos: our own augmentations, never the benchmark's corruption functions. AdamW, linear
warm-up then cosine decay; every random draw is seeded. After the ViT, the text head is refit on
its frozen image embeddings.

Modules: ``config`` (:class:`TrainConfig`, the single spelling of the options), ``augment``
(camera variety), ``dense`` (per-patch labels and their head), ``stream`` (seeded training
batches), ``features`` (frozen caption and image features), ``train`` (:func:`pretrain_scenes`,
the loop and the saved files) and ``evaluate`` (R@1 on a split). Importing this package imports
none of them, so reading ``config`` stays cheap.
"""
