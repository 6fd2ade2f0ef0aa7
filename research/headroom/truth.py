"""How many top-1 "errors" of the source model are captions that are true of the query image.

Scenes captions are often partial ("a red star at the top"), so a caption of another image can
describe the query image as well; ranking it first counts as a miss although no method could
tell it apart. For every cached i2t stream (research/headroom/embed_cache.py) this counts, per
shift, the share of queries whose top-1 caption is wrong, and the share of those whose top-1
caption is nonetheless true of the query image (scripts/scenes_ceiling.py's truth matrix).

    python research/headroom/truth.py --emb runs/emb
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from scenes_ceiling import truth_matrix  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emb", type=Path, default=Path("runs/emb"))
    args = parser.parse_args()
    root = args.emb / "i2t"
    truth = torch.as_tensor(truth_matrix("val", 0))  # (captions, images)
    gallery = torch.load(root / "gallery.pt", weights_only=False)
    g, groups = gallery["g"], torch.as_tensor(np.asarray(gallery["groups"]))
    print("| shift | R@1 | wrong top-1 | of which true of the image | R@1 counting true captions |")
    print("|---|---|---|---|---|")
    for path in [root / "none.pt", *sorted(root.glob("*@*.pt"))]:
        cached = torch.load(path, weights_only=False)
        top = (cached["z"] @ g.T).argmax(dim=1)
        images = cached["indices"]  # i2t: query index = image index
        right = groups[top] == cached["groups"]
        true_of_image = truth[top, images]
        wrong = ~right
        print(
            f"| {path.stem} | {100 * right.float().mean():.1f} | {100 * wrong.float().mean():.1f} | "
            f"{100 * (wrong & true_of_image).float().sum() / wrong.sum().clamp_min(1):.1f} % | "
            f"{100 * (right | true_of_image).float().mean():.1f} |"
        )


if __name__ == "__main__":
    main()
