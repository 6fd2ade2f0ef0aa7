"""``qshift shift images|texts``: write COCO-C / Flickr-C style corrupted copies of a dataset."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from qshift.shifts.builder import IMAGE_SEVERITIES, TEXT_LEVELS, Manifest, build_images, build_texts


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``qshift shift images|texts`` to the CLI's sub-commands."""
    shift = subparsers.add_parser(
        "shift",
        help="write corrupted copies of a dataset (COCO-C / Flickr-C layout)",
        description="Write corrupted copies of a Karpathy-format dataset in the COCO-C / Flickr-C layout.",
    )
    kinds = shift.add_subparsers(dest="shift_kind", required=True, metavar="{images,texts}")
    images = kinds.add_parser("images", help="<out>/<Prefix>_IP_<corruption>_<severity>/<relative path>")
    _add_common_options(images, "image")
    images.set_defaults(func=_images_command, parser=images)
    texts = kinds.add_parser("texts", help="<out>/annotation_<shift>/<L>/<annotation file>")
    _add_common_options(texts, "text")
    texts.add_argument(
        "--min-cosine",
        type=float,
        default=None,
        help="word-level shifts: re-sample until the MiniLM cosine to the original is >= this (e.g. 0.9)",
    )
    texts.add_argument(
        "--model-dir",
        default=None,
        help="local seq2seq model directory for one sentence-level shift (default: $QSHIFT_STYLE_MODEL_DIR)",
    )
    texts.set_defaults(func=_texts_command, parser=texts)


def _add_common_options(parser: argparse.ArgumentParser, kind: str) -> None:
    """Options shared by ``shift images`` and ``shift texts``."""
    levels = IMAGE_SEVERITIES if kind == "image" else TEXT_LEVELS
    groups = "" if kind == "image" else ", or the groups paper, char, word, sentence"
    parser.add_argument(
        "--dataset", required=True, help="karpathy:<json>:<image_root>, coco:<root> or flickr:<root>"
    )
    parser.add_argument(
        "--out", required=True, type=Path, help="output folder (resumable; holds manifest.json)"
    )
    parser.add_argument(
        "--shifts", default=None, help=f"comma-separated {kind} shifts{groups}, or all (the default: all 16)"
    )
    parser.add_argument(
        "--severities",
        default=None,
        help=f"comma-separated severities in {levels[0]}..{levels[-1]} (default: all)"
        + ("; sentence-level shifts are written once, to level 1" if kind == "text" else ""),
    )
    parser.add_argument("--seed", type=int, default=0, help="base seed of every per-item seed (default 0)")
    parser.add_argument(
        "--workers",
        type=int,
        default=min(4, os.cpu_count() or 1),
        help="worker processes (default min(4, CPUs))",
    )
    parser.add_argument("--limit", type=int, default=None, help="only the first N annotation entries")


def _images_command(args: argparse.Namespace) -> int:
    """``qshift shift images``: build the image copies and print a summary."""
    from qshift.data.karpathy import resolve_karpathy_spec

    annotation, image_root = resolve_karpathy_spec(args.dataset)
    manifest = build_images(
        annotation, image_root, args.out, args.shifts, args.severities, args.seed, args.workers, args.limit
    )
    print(_summary(manifest))
    return 0


def _texts_command(args: argparse.Namespace) -> int:
    """``qshift shift texts``: build the perturbed annotations and print a summary."""
    from qshift.data.karpathy import resolve_karpathy_spec

    annotation, _ = resolve_karpathy_spec(args.dataset)
    options = {"model_dir": args.model_dir} if args.model_dir else None
    manifest = build_texts(
        annotation,
        args.out,
        args.shifts,
        args.severities,
        args.seed,
        args.workers,
        args.limit,
        min_cosine=args.min_cosine,
        options=options,
    )
    print(_summary(manifest))
    return 0


def _summary(manifest: Manifest) -> str:
    """One line: what the last run wrote and skipped, and where."""
    counts = manifest.last_run["counts"].values()
    written = sum(c["written"] for c in counts)
    skipped = sum(c["skipped"] for c in counts)
    return (
        f"wrote {written} file(s), skipped {skipped} already present, in {len(manifest.last_run['counts'])} "
        f"folder(s) under {manifest.path.parent}; manifest: {manifest.path}"
    )
