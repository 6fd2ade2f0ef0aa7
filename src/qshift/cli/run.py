"""``qshift run``: one (model, dataset, direction, shift, method) evaluation.

Under ``torchrun --nproc_per_node W -m qshift run …`` every rank runs this command on its
share of the work (:mod:`qshift.distributed`); only rank 0 prints and writes ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from qshift.cli.common import add_command, parse_hparams
from qshift.errors import UsageError
from qshift.tasks import task_names
from qshift.utils.io import write_json

METRIC_COLUMNS = (
    "r1",
    "r5",
    "r10",
    "r_mean",
    "map",
    "uniformity_before",
    "uniformity_after",
    "gap_before",
    "gap_after",
)


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags shared by ``run`` and the distributed launcher."""
    parser.add_argument(
        "--model", required=True, help="encoder spec: scenes, hf:<dir-or-id>, open_clip:<arch>:<ckpt>"
    )
    parser.add_argument(
        "--dataset", required=True, help="dataset spec: scenes, coco:<root>, karpathy:<json>:<root>, …"
    )
    parser.add_argument("--direction", choices=task_names(), required=True, help="task: i2t, t2i, a2v, …")
    parser.add_argument("--shift", default="none", help="NAME@SEVERITY (e.g. gaussian_noise@5) or none")
    parser.add_argument("--method", default="tcr", help="adaptation method (qshift list)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0, help="stream order and shift seed")
    parser.add_argument(
        "--reset",
        default="continual",
        help="continual | episodic | N (reset every N batches) | drift[:K] (reset on a K-sigma jump)",
    )
    parser.add_argument(
        "--hparam", action="append", default=[], metavar="KEY=VALUE", help="method hyper-parameter"
    )
    parser.add_argument("--gallery-backend", default="exact", choices=("exact", "faiss", "faiss-hnsw"))
    parser.add_argument(
        "--record",
        default="auto",
        choices=("auto", "dense", "topk"),
        help="record dense (B, N) scores or each query's top-k (mAP becomes mAP@k); "
        "auto: top-k above 200,000 gallery items",
    )
    parser.add_argument("--record-k", type=int, default=10, help="k of --record topk (>= 10)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 … (default: cuda if available)")
    parser.add_argument(
        "--precision",
        default="auto",
        choices=("auto", "fp32", "bf16", "fp16"),
        help="autocast dtype of the towers on CUDA; bf16/fp16 also keep the gallery in float16 on the GPU",
    )
    parser.add_argument("--compile", action="store_true", help="torch.compile the query tower")
    parser.add_argument(
        "--workers", type=int, default=min(4, os.cpu_count() or 1), help="image loading threads"
    )
    parser.add_argument("--out", type=Path, default=None, help="directory for result.json and config.json")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def register(sub: argparse._SubParsersAction) -> None:
    parser = add_command(sub, "run", cmd_run, help="one adaptation run; --json prints the result contract")
    add_run_arguments(parser)


def check_device_flag(device: str | None, world_size: int) -> None:
    """Under torchrun each rank picks cuda:LOCAL_RANK itself: an indexed CUDA device would pin all."""
    if world_size > 1 and device is not None and device.startswith("cuda:"):
        raise UsageError(
            f"--device {device} would put every rank on one GPU; under torchrun pass --device cuda "
            "(or leave it unset): rank r uses cuda:LOCAL_RANK"
        )


def cmd_run(args: argparse.Namespace) -> int:
    import torch

    from qshift import distributed
    from qshift.api import evaluate
    from qshift.data import load_dataset
    from qshift.encoders import load_encoder, resolve_device, resolve_precision
    from qshift.methods import names

    if args.method not in names():
        raise UsageError(f"--method: unknown method {args.method!r}; available: {', '.join(names())}")
    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.record_k < 10:
        raise UsageError(f"--record-k must be >= 10 (R@10 needs each query's top 10), got {args.record_k}")
    world = distributed.world()
    check_device_flag(args.device, world.size)
    hparams = parse_hparams(args.hparam)
    encoder = load_encoder(args.model, device=args.device, precision=args.precision)
    half = resolve_precision(args.precision, resolve_device(args.device)) is not None
    dataset = load_dataset(args.dataset)
    result = evaluate(
        encoder,
        dataset,
        direction=args.direction,
        shift=args.shift,
        method=args.method,
        batch_size=args.batch_size,
        seed=args.seed,
        hparams=hparams,
        reset=args.reset,
        gallery_backend=args.gallery_backend,
        gallery_dtype=torch.float16 if half else torch.float32,
        record=args.record,
        record_k=args.record_k,
        compile=args.compile,
        workers=args.workers,
        progress=not args.json and sys.stderr.isatty(),
    )
    if not world.is_main:
        return 0
    line = result.to_json()
    line["model"], line["dataset"] = args.model, args.dataset
    if args.out is not None:
        write_json(args.out / "result.json", line)
        flags = {k: v for k, v in vars(args).items() if k not in ("func", "parser")}
        write_json(args.out / "config.json", {**flags, "hparams": result.hparams})
    if args.json:
        print(json.dumps(line))
    else:
        head = f"{args.method} on {args.dataset} {args.direction} under {line['shift']}"
        print(f"{head}: {line['queries']} queries, {line['seconds']:.1f} s")
        for key in METRIC_COLUMNS:
            value = line[key]
            print(f"  {key:<18} {'-' if value is None else f'{value:.4f}'}")
        if args.out is not None:
            print(f"wrote {args.out / 'result.json'} and {args.out / 'config.json'}")
    return 0
