"""What do a scenes model's wrong image-to-text top-1s get wrong? Colours, shapes, sizes, counts.

For each val image whose top-1 caption belongs to another image, the script compares the two
scenes the generator drew: whether their objects' colours, shapes or sizes differ (as sorted
lists, so an error can count under several) and whether their object counts differ. Run it on
two sets of weights to see where one loses to the other (docs/scenes.md):

    python research/scenes/top1_errors.py src/qshift/scenes/assets/scenes_source.safetensors OTHER.safetensors
"""

from __future__ import annotations

import argparse

import numpy as np

from qshift.scenes.dataset import scenes_split
from qshift.scenes.generator import generate_scenes
from qshift.scenes.model import load_scenes_encoder


def top1_captions(weights: str, dataset) -> np.ndarray:
    """Index of each image's top-1 caption under the model in ``weights``."""
    encoder = load_scenes_encoder(weights)
    scores = encoder.embed_images(dataset.images) @ encoder.embed_texts(dataset.texts).T
    return scores.argmax(dim=1).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", nargs="+", help="scenes_source.safetensors files")
    parser.add_argument("--images", type=int, default=1000, help="val images (default 1,000)")
    args = parser.parse_args()
    dataset = scenes_split("val", args.images, variants=False)
    scenes = generate_scenes("val", args.images)
    print("| weights | R@1 | wrong | colours differ | shapes differ | sizes differ | counts differ |")
    print("|---|---|---|---|---|---|---|")
    for weights in args.weights:
        retrieved = dataset.text_groups[top1_captions(weights, dataset)]
        wrong = np.nonzero(retrieved != dataset.image_groups)[0]
        differ = dict.fromkeys(("colour", "shape", "size", "count"), 0)
        for i in wrong:
            ours, theirs = scenes[i].objects, scenes[retrieved[i]].objects
            for attribute in ("colour", "shape", "size"):
                values = [sorted(getattr(o, attribute) for o in objs) for objs in (ours, theirs)]
                differ[attribute] += values[0] != values[1]
            differ["count"] += len(ours) != len(theirs)
        r1 = 100 * (1 - len(wrong) / args.images)
        counts = " | ".join(str(v) for v in differ.values())
        print(f"| {weights} | {r1:.1f} | {len(wrong)} | {counts} |")


if __name__ == "__main__":
    main()
