"""How high can text-to-image R@1 go on scenes? Count, for every caption, the images it is true of.

Partial captions ("a red star at the top") are true of several images of the 1,000, so even a
perfect model must guess among them. For each caption the script counts the split's images it
describes (:func:`qshift.scenes.negatives.describes`: mentioned objects, sizes, positions
and counts; relations and backgrounds are not checked, so the counts are upper bounds) and
reports the text-to-image R@1 of an oracle that ranks the true images first in random order
(mean over captions of 1 / images the caption is true of): a ceiling, up to the unchecked
relations. For image-to-text it reports the share of each image's true captions that are its
own; that is no ceiling, since a model may rank a complete caption above a partial one that is
also true.

    python research/scenes/ceiling.py --split test
"""

from __future__ import annotations

import argparse

import numpy as np
from tqdm import tqdm

from qshift.scenes.captions import caption_plans
from qshift.scenes.generator import PURPOSE_CAPTIONS, SPLIT_SIZES, generate_scenes, scene_rng
from qshift.scenes.negatives import describes


def truth_matrix(split: str, seed: int) -> np.ndarray:
    """(captions, images) bool: caption j (5 per image, in order) is true of image i."""
    scenes = generate_scenes(split, SPLIT_SIZES[split], seed)
    rows = []
    for index, scene in enumerate(tqdm(scenes, desc="captions", unit="image")):
        for plan in caption_plans(scene, scene_rng(seed, split, index, PURPOSE_CAPTIONS)):
            rows.append([describes(plan, scene, other) for other in scenes])
    return np.array(rows, dtype=bool)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="test", choices=["val", "test"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    truth = truth_matrix(args.split, args.seed)
    owner = np.repeat(np.arange(truth.shape[1]), 5)
    assert truth[np.arange(len(owner)), owner].all(), "a caption must be true of its own image"
    t2i = (1.0 / truth.sum(axis=1)).mean()
    own = np.array([truth[owner == i, i].sum() for i in range(truth.shape[1])])
    i2t = (own / truth.sum(axis=0)).mean()
    print(f"{args.split}: oracle t2i R@1 {100 * t2i:.1f}; own share of true captions {100 * i2t:.1f} %")
    print(f"captions true of exactly one image: {100 * (truth.sum(axis=1) == 1).mean():.1f} %")


if __name__ == "__main__":
    main()
