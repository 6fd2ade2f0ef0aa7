"""Why the methods use so little of the headroom: instrumented streams on the VAL split.

Subcommands (each prints a markdown table and appends JSON rows to ``--out``):

- ``tcr-rates``: TCR's selection per batch — queue admissions, the REM filter's keep rate
  (H_b ≤ E_m), and the pseudo-label accuracy (nearest gallery item relevant) of all queries,
  of the REM-kept ones and of the queued pairs.
- ``updates``: size and direction of each method's parameter update over a stream
  (θ_end − θ_source) against the supervised oracle's (transductive fit of the same queries):
  norms and cosine.
- ``long-stream``: R@1 per stretch of a long stream (e.g. the 5,000 clean val captions),
  with each method's selection counts, to see where a collapse starts.

    python research/headroom/diagnose.py tcr-rates --shifts gaussian_noise@5,fog@5 --lr 3e-4
    python research/headroom/diagnose.py updates --shifts gaussian_noise@5 --spec tcr:lr=1e-3 ...
    python research/headroom/diagnose.py long-stream --direction t2i --shifts none --spec eata ...
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from grid import parse_spec  # noqa: E402  (research/headroom is the script's directory)

import qshift
from qshift.api import default_hparams, embed_gallery
from qshift.bench import query_data, query_subset
from qshift.bench.oracle import EPOCHS, LR, TEMPERATURE, OracleFitter
from qshift.data.queries import QueryBatches
from qshift.gallery import Gallery
from qshift.methods import build
from qshift.methods.losses import entropy
from qshift.methods.params import select_parameters
from qshift.methods.source_stats import SourceStats
from qshift.methods.tcr import TCR
from qshift.metrics import GroupIndex, RetrievalMetrics, recall_at
from qshift.shifts import streams
from qshift.shifts.spec import parse_shift


class Setup:
    """Encoder, val data (optionally a query subset), gallery and stats of one direction."""

    def __init__(self, direction: str, queries: int | None, stats_path: str | None):
        self.direction = direction
        self.encoder = qshift.load_encoder("scenes")
        full = qshift.load_dataset("scenes:val")
        total = full.num_images if direction == "i2t" else full.num_texts
        self.data = query_data(full, direction, query_subset(total, queries))
        self.gallery_emb = embed_gallery(self.encoder, self.data, direction)
        self.groups = self.data.text_groups if direction == "i2t" else self.data.image_groups
        self.index = GroupIndex(self.groups)
        shipped = self.encoder.source_stats_path(direction)
        self.stats = SourceStats.load(stats_path.format(direction=direction) if stats_path else shipped)
        self.tower = self.encoder.query_tower(direction)

    def batches(self, shift: str, seed: int = 0) -> list:
        queries = QueryBatches(self.encoder, self.data, self.direction, seed=seed)
        plan = streams.single(queries.num_queries, parse_shift(shift), 64, seed)
        return [(prepared, groups) for _, prepared, groups in queries.iterate(plan)]

    def adapter(self, method: str, **hparams: Any):
        settings = {
            **default_hparams(self.encoder, self.data, method, self.direction),
            "stats": self.stats,
            **hparams,
        }
        return build(method, self.tower, Gallery(self.gallery_emb), **settings)

    def relevant(self, groups: np.ndarray, items: torch.Tensor) -> torch.Tensor:
        """Whether gallery item ``items[b]`` is relevant to query b."""
        return torch.as_tensor(self.groups)[items] == torch.as_tensor(groups)


class InstrumentedTCR(TCR):
    """TCR that logs, per step, what its filters keep and how often the kept pseudo-labels are right."""

    name = "tcr"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.rows: list[dict[str, float]] = []
        self.correct: torch.Tensor | None = None  # set per batch by the driver: is c_b relevant?
        self.relevant_of = None

    def objective(self, z, batch, step):
        loss, scores = super().objective(z, batch, step)
        nearest = scores.argmax(dim=1)
        correct = self.relevant_of(nearest).float()
        row = {"batch": self.batches_seen, "step": step, "pl_acc": float(correct.mean())}
        if step == 0 and self.in_queue_phase():
            # the pairs fill_queue offered: the ⌊con_ratio·B⌋ smallest SI (no window)
            zd, c = z.detach(), self.gallery.rows(nearest)
            si = 2 * (zd - c).norm(dim=1) - (zd - zd.mean(0)).norm(dim=1) - (c - c.mean(0)).norm(dim=1)
            chosen = torch.sort(si, stable=True).indices[: int(self.con_ratio * len(si))]
            row["queue_in"] = len(chosen)
            row["queue_acc"] = float(correct[chosen].mean()) if len(chosen) else float("nan")
        if len(self.queue) > 0:
            ent = entropy(z.detach() @ self.gallery.rows(nearest).T / self.temperature)
            kept = ent <= self.queue.max_entropy()
            row["rem_keep"] = float(kept.float().mean())
            row["rem_acc"] = float(correct[kept].mean()) if kept.any() else float("nan")
        self.rows.append(row)
        return loss, scores


def cmd_tcr_rates(args: argparse.Namespace) -> None:
    setup = Setup("i2t", args.queries, args.stats)
    for shift in args.shifts.split(","):
        batches = setup.batches(shift)
        settings = {**default_hparams(setup.encoder, setup.data, "tcr", "i2t"), "lr": args.lr}
        adapter = InstrumentedTCR(setup.tower, Gallery(setup.gallery_emb), **settings)
        metrics = RetrievalMetrics(setup.groups)
        for prepared, groups in batches:
            adapter.relevant_of = lambda items, g=groups: setup.relevant(g, items)
            metrics.update(adapter(prepared), groups)
        rows = adapter.rows
        first = [r for r in rows if r["step"] == 0]
        summary = {
            "shift": shift,
            "lr": args.lr,
            "r1": metrics.compute()["r1"],
            "pl_acc_first_batch": first[0]["pl_acc"],
            "pl_acc_mean": float(np.mean([r["pl_acc"] for r in first])),
            "queue_admitted": int(sum(r.get("queue_in", 0) for r in first)),
            "queue_size": len(adapter.queue),
            "queue_offered_acc": float(np.nanmean([r.get("queue_acc", np.nan) for r in first])),
            "rem_keep_mean": float(np.nanmean([r.get("rem_keep", np.nan) for r in rows])),
            "rem_acc_mean": float(np.nanmean([r.get("rem_acc", np.nan) for r in rows])),
        }
        print(json.dumps(summary), flush=True)
        with args.out.open("a") as handle:
            handle.write(json.dumps({"kind": "tcr-rates", **summary}) + "\n")


def flat(params: list[torch.nn.Parameter]) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in params])


def cmd_updates(args: argparse.Namespace) -> None:
    setup = Setup(args.direction, args.queries, args.stats)
    params = select_parameters(setup.tower, setup.encoder.adapt_params(args.direction))
    source = flat(params).clone()
    for shift in args.shifts.split(","):
        batches = setup.batches(shift)
        # the transductive oracle's update: fit the same parameters on all queries, read, restore
        for p in setup.tower.parameters():
            p.requires_grad_(any(p is q for q in params))
        fitter = OracleFitter(setup.tower, params, Gallery(setup.gallery_emb), setup.groups)
        fitter.fit(batches, epochs=args.epochs, lr=LR, weight_decay=1e-4, temperature=TEMPERATURE, seed=0)
        fitted = {"oracle": flat(params) - source}
        fitter.restore()
        results = {}
        for spec in args.spec:
            method, hparams = parse_spec(spec)
            adapter = setup.adapter(method, **hparams)
            metrics = RetrievalMetrics(setup.groups)
            for prepared, groups in batches:
                metrics.update(adapter(prepared), groups)
            delta = flat(params) - source
            adapter.reset()
            oracle = fitted["oracle"]
            cos = (
                float(torch.nn.functional.cosine_similarity(delta, oracle, dim=0))
                if delta.norm() > 0
                else 0.0
            )
            results[spec] = {"r1": metrics.compute()["r1"], "norm": float(delta.norm()), "cos_oracle": cos}
        row = {
            "kind": "updates",
            "shift": shift,
            "oracle_norm": float(fitted["oracle"].norm()),
            "methods": results,
        }
        print(json.dumps(row), flush=True)
        with args.out.open("a") as handle:
            handle.write(json.dumps(row) + "\n")


def cmd_long_stream(args: argparse.Namespace) -> None:
    setup = Setup(args.direction, args.queries, args.stats)
    for shift in args.shifts.split(","):
        batches = setup.batches(shift)
        for spec in args.spec:
            method, hparams = parse_spec(spec)
            adapter = setup.adapter(method, **hparams)
            ranks = []
            for prepared, groups in batches:
                metrics = RetrievalMetrics(setup.groups)
                ranks.append(metrics.update(adapter(prepared), groups))
            adapter.reset()
            stretch = max(1, len(ranks) // args.stretches)
            curve = [
                round(recall_at(torch.cat(ranks[i : i + stretch]), 1), 1)
                for i in range(0, len(ranks), stretch)
            ]
            row = {
                "kind": "long-stream",
                "direction": args.direction,
                "shift": shift,
                "spec": spec,
                "r1": round(recall_at(torch.cat(ranks), 1), 2),
                "r1_per_stretch": curve,
            }
            print(json.dumps(row), flush=True)
            with args.out.open("a") as handle:
                handle.write(json.dumps(row) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("tcr-rates", "updates", "long-stream"))
    parser.add_argument("--direction", choices=("i2t", "t2i"), default="i2t")
    parser.add_argument("--shifts", required=True)
    parser.add_argument("--queries", type=int, default=None)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--spec", action="append", default=[])
    parser.add_argument("--stretches", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=EPOCHS, help="updates: the oracle epochs")
    parser.add_argument(
        "--stats", default=None, help="clean statistics ({direction} expands); default: the shipped ones"
    )
    parser.add_argument("--out", type=Path, default=Path("runs/diagnose.jsonl"))
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    {"tcr-rates": cmd_tcr_rates, "updates": cmd_updates, "long-stream": cmd_long_stream}[args.command](args)


if __name__ == "__main__":
    main()
