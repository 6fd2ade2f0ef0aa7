"""How much of a clean image survives each corruption at the ViT's input, per input normalisation?

Before training a model for every candidate input normalisation (20 CPU-minutes each), this
script measures what the ViT would see: for val images at the model's 64 px, the cosine
similarity between the normalised clean image and the normalised corrupted one (deviations from
the per-channel means, flattened), averaged over images, per corruption at severity 5. A
normalisation that maps a corrupted image close to its clean self gives a model trained on
clean-ish images a chance; one that does not leaves it to the training. No model is involved,
so it says nothing about the clean accuracy a normalisation allows (docs/scenes.md).

    python research/scenes/input_norms.py --images 200
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from qshift.scenes.dataset import scenes_split
from qshift.scenes.model import normalise_images, resize_images
from qshift.scenes.vit import INPUT_NORMALISERS
from qshift.shifts import apply, names

#: "fixed" is left out: the cosine ignores a per-image scale, so it would equal "contrast"
NORMALISATIONS = {name: INPUT_NORMALISERS[name] for name in ("contrast", "local", "opponent")}


def similarity(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean cosine similarity of the images' deviations from their per-channel means."""
    a = a - a.mean(dim=(2, 3), keepdim=True)
    b = b - b.mean(dim=(2, 3), keepdim=True)
    return F.cosine_similarity(a.flatten(1), b.flatten(1)).mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200, help="val images (default 200)")
    parser.add_argument("--severity", type=int, default=5)
    args = parser.parse_args()
    dataset = scenes_split("val", args.images, variants=False)
    images = [dataset.images[i] for i in range(args.images)]
    size = 64
    clean = normalise_images(resize_images(images, size))
    reference = {name: norm(clean) for name, norm in NORMALISATIONS.items()}
    print("| corruption | " + " | ".join(NORMALISATIONS) + " |")
    print("|---" * (len(NORMALISATIONS) + 1) + "|")
    for shift in names("image"):
        corrupted = [apply(shift, img, args.severity, 1_000_003 + i) for i, img in enumerate(images)]
        inputs = normalise_images(resize_images(corrupted, size))
        cells = [f"{similarity(reference[n], norm(inputs)):.2f}" for n, norm in NORMALISATIONS.items()]
        print(f"| {shift} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
