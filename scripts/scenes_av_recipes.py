"""Proxy runs of the scenes-av pretraining recipe, scored on the val split (docs/scenes-av.md).

Each argument is ``NAME[:FIELD=VALUE,...]``: TrainConfig fields (``steps=200``, ``augment=false``)
and model fields prefixed ``model.`` (``model.frame.patch_size=16``, ``model.temporal_depth=2``).
Every run trains, scores clean val R@1 both ways and appends a JSON row to ``OUT/rows.jsonl``.

    python scripts/scenes_av_recipes.py --out runs/av-recipes base 'p8:model.frame.patch_size=8'
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from qshift.scenes_av.model import AVConfig
from qshift.scenes_av.pretrain import TrainConfig, evaluate_splits, pretrain_scenes_av


def _set(obj: Any, path: list[str], value: Any) -> Any:
    """``obj`` (a frozen dataclass) with the field at ``path`` replaced by ``value``."""
    if len(path) == 1:
        return replace(obj, **{path[0]: value})
    return replace(obj, **{path[0]: _set(getattr(obj, path[0]), path[1:], value)})


def parse(spec: str) -> tuple[str, TrainConfig, AVConfig]:
    """``NAME[:FIELD=VALUE,...]`` → (name, training config, model config)."""
    name, _, fields = spec.partition(":")
    cfg, model = TrainConfig(), AVConfig()
    for item in filter(None, fields.split(",")):
        key, _, raw = item.partition("=")
        value = json.loads(raw)
        if key.startswith("model."):
            model = _set(model, key.split(".")[1:], value)
        else:
            cfg = _set(cfg, [key], value)
    return name, cfg, model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="NAME[:FIELD=VALUE,...]")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for spec in args.runs:
        name, cfg, model = parse(spec)
        start = time.monotonic()
        weights = pretrain_scenes_av(args.out / name, cfg, model, progress=False)
        minutes = (time.monotonic() - start) / 60
        scores = evaluate_splits(weights, ("val",))["val"]
        train = json.loads(weights.with_suffix(".json").read_text())["train"]
        row = {"name": name, "spec": spec, **scores, "train_wall_minutes": round(minutes, 2), **train}
        with open(args.out / "rows.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
