"""The log-mel statistics that standardise the scenes-av audio tower's input (``MelConfig``).

Mean and spread of the log band energies of the first ``--clips`` clean train soundtracks under
the current front end (floor included), rounded as ``MelConfig`` stores them.

    python scripts/scenes_av_mel_stats.py --clips 1000
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from qshift.scenes_av.dataset import clip_audio
from qshift.scenes_av.features import LogMel, MelConfig, statistics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=1000)
    args = parser.parse_args()
    front = LogMel(MelConfig())
    waves = front.fit([clip_audio("train", i) for i in range(args.clips)])
    mean, std = statistics(front.log_mel(torch.from_numpy(np.stack(waves))))
    print(f"mean {mean}  std {std}")


if __name__ == "__main__":
    main()
