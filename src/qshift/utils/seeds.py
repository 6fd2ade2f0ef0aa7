"""Per-item seeds: one derivation for every shifted item, on the fly or written to disk.

A query's shift is seeded from (base seed, item index, shift name, severity) only, so an item
looks the same whatever batch, order, worker or process produces it, and a corrupted copy
written by ``qshift shift`` holds exactly what the query stream computes at the same seed.
"""

from __future__ import annotations

import zlib

import numpy as np


def item_seed(seed: int, index: int, shift: str, severity: int) -> int:
    """The 32-bit seed of item ``index`` under ``shift`` at ``severity``, from the base ``seed``.

    The entropy is ``[seed, index, crc32(shift), severity]`` fed to numpy's ``SeedSequence``;
    every benchmark number measured with on-the-fly shifts depends on these exact values.
    """
    if seed < 0 or index < 0 or severity < 0:
        raise ValueError(f"seeds need non-negative seed, index and severity, got {seed}, {index}, {severity}")
    entropy = [int(seed), int(index), zlib.crc32(shift.encode()), int(severity)]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])
