"""Closed-form statistics matching of the query tower's normalisation layers, measured on val.

The alignment term of ``align``/``qshift`` moves the LayerNorm affine parameters by gradient
steps until each layer's batch statistics approach the clean ones stored with the model. This
script does the same in closed form instead, as forward hooks on those layers: every layer's
output y is replaced by y + α·(μ_clean + (y − m)·σ_clean/s − y), m and s the batch's own
per-feature mean and standard deviation (detached), layer by layer so that later layers see the
matched earlier ones. With α = 1 the output no longer depends on the layer's affine parameters,
so an adapting method on top learns nothing there; α < 1, the mean alone or the first k layers
leave it room.

    PYTHONPATH=research/headroom python research/headroom/match.py --alpha 0.5 \
        --shifts gaussian_noise@5,fog@5 --spec source --spec qshift --out runs/grid/i2t-match.jsonl

Rows carry the spec with a ``|match=...`` suffix, so they sit beside grid.py's rows.
"""

from __future__ import annotations

import argparse
from typing import Any

import torch
from grid import add_grid_arguments, run_grid  # research/headroom on PYTHONPATH (match.sh)
from torch import nn

from qshift.methods.source_stats import SourceStats, norm_layers


def install(tower: nn.Module, stats: SourceStats, alpha: float, layers: int, mean_only: bool) -> None:
    """Hooks matching the first ``layers`` normalisation layers (all when 0) to the clean statistics."""
    names = list(norm_layers(tower))
    if layers:
        names = names[:layers]
    modules = dict(tower.named_modules())
    for name in names:
        ref_mean, ref_var = stats.layers[name]

        def hook(
            module: nn.Module, inputs: Any, y: torch.Tensor, ref_mean=ref_mean, ref_var=ref_var
        ) -> torch.Tensor:
            rows = y.reshape(-1, y.shape[-1])
            mean = rows.mean(dim=0).detach()
            if mean_only:
                matched = y - mean + ref_mean
            else:
                std = rows.std(dim=0, unbiased=False).detach().clamp_min(1e-5)
                matched = ref_mean + (y - mean) * (ref_var.sqrt() / std)
            return y + alpha * (matched - y)

        modules[name].register_forward_hook(hook)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_grid_arguments(parser)
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--layers", type=int, default=0, help="match the first k layers (0: all)")
    parser.add_argument("--mean-only", action="store_true")
    parser.set_defaults(stats="src/qshift/scenes/assets/scenes_source.stats-{direction}.safetensors")
    args = parser.parse_args()
    suffix = f"|match=a{args.alpha},k{args.layers}{',mean' if args.mean_only else ''}"

    def prepare(encoder: Any, stats: SourceStats) -> None:
        install(encoder.query_tower(args.direction), stats, args.alpha, args.layers, args.mean_only)

    run_grid(args, suffix, prepare)


if __name__ == "__main__":
    main()
