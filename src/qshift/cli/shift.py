"""``qshift shift images|texts|audio|video|cir``: write corrupted copies of a dataset.

Images and texts: COCO-C / Flickr-C style copies of a Karpathy-format dataset. Audio and video:
copies of the audio or video items of a dataset spec (AudioCaps, Clotho, MSR-VTT, ``avcsv``),
one folder per (shift, severity) that replaces the media root in the same spec. Composed
queries: FIQ-C / CIRR-C style copies of FashionIQ, CIRR or CIRCO in their own layouts.

Each kind of copy is one :class:`_Kind` in :data:`KINDS`: its sub-command name, the modality
of its shifts, the datasets it takes, its own options and the function that runs it; the
options every kind shares (dataset, output folder, shifts, severities, seed, workers, limit)
are added here once.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from qshift.cli.commands import COMMANDS
from qshift.errors import ParameterError
from qshift.shifts.export import (
    Manifest,
    build_audio,
    build_cir,
    build_images,
    build_texts,
    build_video,
    export_kind,
)

if TYPE_CHECKING:
    from qshift.data.av_files import MediaFiles

KARPATHY_SPECS = "karpathy:<json>:<image_root>, coco:<root> or flickr:<root>"


@dataclass(frozen=True)
class _Kind:
    """One ``qshift shift <name>`` sub-command."""

    name: str
    modality: str
    help: str
    #: builds the copies from the parsed arguments
    build: Callable[[argparse.Namespace], Manifest]
    #: the dataset specs it takes (``--dataset`` help)
    datasets: str = KARPATHY_SPECS
    #: adds the kind's own options
    add_options: Callable[[argparse.ArgumentParser], None] = lambda parser: None


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``qshift shift <kind>`` for every kind of :data:`KINDS` to the CLI's sub-commands."""
    shift = subparsers.add_parser(
        "shift",
        help=COMMANDS["shift"][1],
        description="Write corrupted copies of a dataset: images and captions of a Karpathy-format "
        "dataset in the COCO-C / Flickr-C layout, or the audio or video items of an audio/video dataset.",
    )
    kinds = shift.add_subparsers(
        dest="shift_kind", required=True, metavar="{" + ",".join(k.name for k in KINDS) + "}"
    )
    for kind in KINDS:
        parser = kinds.add_parser(kind.name, help=kind.help)
        _add_common_options(parser, kind)
        kind.add_options(parser)
        parser.set_defaults(func=_command(kind), parser=parser)


def _add_common_options(parser: argparse.ArgumentParser, kind: _Kind) -> None:
    """Options every kind shares, their help drawn from the kind's datasets, severities and groups."""
    modality = kind.modality
    export = export_kind(modality)
    levels = export.severities
    groups = f", or the groups {', '.join(export.groups)}" if export.groups else ""
    parser.add_argument("--dataset", required=True, help=kind.datasets)
    parser.add_argument(
        "--out", required=True, type=Path, help="output folder (resumable; holds manifest.json)"
    )
    parser.add_argument(
        "--shifts", default=None, help=f"comma-separated {modality} shifts{groups}, or all (the default)"
    )
    parser.add_argument(
        "--severities",
        default=None,
        help=f"comma-separated severities in {levels[0]}..{levels[-1]} (default: all)"
        + ("; sentence-level shifts are written once, to level 1" if modality == "text" else ""),
    )
    parser.add_argument("--seed", type=int, default=0, help="base seed of every per-item seed (default 0)")
    parser.add_argument(
        "--workers",
        type=int,
        default=min(4, os.cpu_count() or 1),
        help="worker processes (default min(4, CPUs))",
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        help="only the first N " + ("annotation entries" if modality in ("image", "text") else "items"),
    )


def _command(kind: _Kind) -> Callable[[argparse.Namespace], int]:
    """The handler of ``qshift shift <kind>``: build the copies and print a summary."""

    def run(args: argparse.Namespace) -> int:
        print(_summary(kind.build(args)))
        return 0

    return run


def _build_images(args: argparse.Namespace) -> Manifest:
    """``qshift shift images``: corrupted copies of the dataset's images."""
    from qshift.data.karpathy import resolve_karpathy_spec

    annotation, image_root = resolve_karpathy_spec(args.dataset)
    return build_images(
        annotation, image_root, args.out, args.shifts, args.severities, args.seed, args.workers, args.limit
    )


def _add_text_options(parser: argparse.ArgumentParser) -> None:
    """``qshift shift texts``' own options: the semantic filter and a sentence-level model."""
    parser.add_argument(
        "--min-cosine",
        type=float,
        default=None,
        help="word-level shifts: re-sample until the MiniLM cosine to the original is >= this (e.g. 0.9)",
    )
    parser.add_argument(
        "--model-dir",
        default=None,
        help="local seq2seq model directory for one sentence-level shift (default: $QSHIFT_STYLE_MODEL_DIR)",
    )


def _build_texts(args: argparse.Namespace) -> Manifest:
    """``qshift shift texts``: perturbed copies of the dataset's annotation."""
    from qshift.data.karpathy import resolve_karpathy_spec

    annotation, _ = resolve_karpathy_spec(args.dataset)
    return build_texts(
        annotation,
        args.out,
        args.shifts,
        args.severities,
        args.seed,
        args.workers,
        args.limit,
        min_cosine=args.min_cosine,
        options={"model_dir": args.model_dir} if args.model_dir else None,
    )


def _media_of(args: argparse.Namespace, modality: str) -> MediaFiles:
    """The ``modality`` items of ``--dataset``; ParameterError when it has none read from files."""
    from qshift.data import load_dataset
    from qshift.data.av_files import MediaFiles

    dataset = load_dataset(args.dataset)
    items = dataset.items.get(modality)
    if not isinstance(items, MediaFiles):
        raise ParameterError("dataset", f"{args.dataset} has no {modality} files to copy")
    return items


def _build_audio(args: argparse.Namespace) -> Manifest:
    """``qshift shift audio``: corrupted copies of the dataset's audio items."""
    source = _media_of(args, "audio")
    return build_audio(source, args.out, args.shifts, args.severities, args.seed, args.workers, args.limit)


def _build_video(args: argparse.Namespace) -> Manifest:
    """``qshift shift video``: corrupted copies of the dataset's video items."""
    source = _media_of(args, "video")
    return build_video(source, args.out, args.shifts, args.severities, args.seed, args.workers, args.limit)


def _build_cir(args: argparse.Namespace) -> Manifest:
    """``qshift shift cir``: FIQ-C / CIRR-C style copies of a FashionIQ, CIRR or CIRCO spec."""
    from qshift.data.cir import composed_layout

    layout = composed_layout(args.dataset)
    return build_cir(layout, args.out, args.shifts, args.severities, args.seed, args.workers, args.limit)


#: the kinds of ``qshift shift``, in the order ``--help`` lists them
KINDS = (
    _Kind("images", "image", "<out>/<Prefix>_IP_<corruption>_<severity>/<relative path>", _build_images),
    _Kind(
        "texts",
        "text",
        "<out>/annotation_<shift>/<L>/<annotation file>",
        _build_texts,
        add_options=_add_text_options,
    ),
    _Kind(
        "audio",
        "audio",
        "<out>/<Prefix>_AP_<shift>_<severity>/<audio file>",
        _build_audio,
        "audiocaps:<csv>:<audio_root>, clotho:<csv>:<audio_root> or avcsv:<csv>:<clip_root>[:<audio_root>]",
    ),
    _Kind(
        "video",
        "video",
        "<out>/<Prefix>_VP_<shift>_<severity>/<video file>",
        _build_video,
        "msrvtt:<json|csv>:<video_root>[:<split>] or avcsv:<csv>:<clip_root>[:<audio_root>]",
    ),
    _Kind(
        "cir",
        "image+text",
        "FIQ-C / CIRR-C: <out>/<Family>_IP_<shift>_<sev>/ (references), <Family>_TP_<shift>_<L>/ (texts)",
        _build_cir,
        datasets="fashioniq:<root>[:<category>], cirr:<root>[:<split>] or circo:<root>[:<split>]",
    ),
)


def _summary(manifest: Manifest) -> str:
    """One line: what the last run wrote and skipped, and where."""
    counts = manifest.last_run["counts"].values()
    written = sum(c["written"] for c in counts)
    skipped = sum(c["skipped"] for c in counts)
    return (
        f"wrote {written} file(s), skipped {skipped} already present, in {len(manifest.last_run['counts'])} "
        f"folder(s) under {manifest.path.parent}; manifest: {manifest.path}"
    )
