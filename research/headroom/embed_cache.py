"""Source-model embeddings of shifted val queries, in stream order, for the offline analyses.

Training-free corrections of the source model (re-centering, QB-Norm, DBNorm) and the
pseudo-label diagnosis need only these embeddings, so they are computed once per shift and
every variant is then evaluated in milliseconds (research/headroom/offline.py).

    python research/headroom/embed_cache.py --direction i2t --out runs/emb
    python research/headroom/embed_cache.py --direction t2i --queries 1000 --out runs/emb

Writes ``<out>/<direction>/<shift>.pt`` ({"z", "indices", "groups"}) and ``gallery.pt``
({"g", "groups"}); existing files are skipped.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch.nn import functional as F

import qshift
from qshift.api import embed_gallery
from qshift.bench import query_data, query_subset
from qshift.data.queries import QueryBatches
from qshift.shifts import names, streams
from qshift.shifts.spec import ShiftSpec
from qshift.shifts.text import PAPER_TEXT_SHIFTS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="scenes:val")
    parser.add_argument("--direction", choices=("i2t", "t2i"), required=True)
    parser.add_argument("--queries", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/emb"))
    args = parser.parse_args()
    out = args.out / args.direction
    out.mkdir(parents=True, exist_ok=True)
    encoder = qshift.load_encoder("scenes")
    full = qshift.load_dataset(args.dataset)
    total = full.num_images if args.direction == "i2t" else full.num_texts
    data = query_data(full, args.direction, query_subset(total, args.queries))
    if not (out / "gallery.pt").exists():
        groups = data.text_groups if args.direction == "i2t" else data.image_groups
        torch.save({"g": embed_gallery(encoder, data, args.direction), "groups": groups}, out / "gallery.pt")
    shifts = names("image") if args.direction == "i2t" else list(PAPER_TEXT_SHIFTS)
    tower = encoder.query_tower(args.direction)
    for name in ["none", *shifts]:
        spec = ShiftSpec(name, 5) if name != "none" else ShiftSpec("none")
        path = out / f"{spec}.pt"
        if path.exists():
            continue
        queries = QueryBatches(encoder, data, args.direction, seed=args.seed)
        plan = streams.single(queries.num_queries, spec, 64, args.seed)
        zs, indices, groups = [], [], []
        with torch.no_grad():
            for planned, prepared, group in queries.iterate(plan):
                zs.append(F.normalize(tower(prepared).float(), dim=-1))
                indices.append(torch.as_tensor(planned.indices))
                groups.append(torch.as_tensor(group))
        torch.save({"z": torch.cat(zs), "indices": torch.cat(indices), "groups": torch.cat(groups)}, path)
        print(path, flush=True)


if __name__ == "__main__":
    main()
