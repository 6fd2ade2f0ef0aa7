"""Corrupted copies of a dataset on disk, in the COCO-C / Flickr-C layout: ``qshift shift``.

``build_images`` writes every source image once per (corruption, severity)::

    <out>/<Prefix>_IP_<corruption>_<severity>/<same relative path as in the annotation>

``Prefix`` is ``COCO`` for annotation files whose name starts with "coco", ``Flickr`` for
"flickr", else the annotation file's stem. ``build_texts`` writes one annotation file per
(perturbation, level)::

    <out>/annotation_<perturbation>/<L>/<annotation file name>

Both outputs load with the plain Karpathy spec, e.g.
``karpathy:<out>/annotation_ocr/5/coco_karpathy_test.json:<image_root>`` or
``karpathy:<annotation>:<out>/COCO_IP_fog_5``.

**A copy equals the on-the-fly shift at the same seed.** Item ``i`` is shifted with
:func:`qshift.utils.seeds.item_seed` ``(seed, i, shift, severity)``, the seed the query stream
(:class:`qshift.data.queries.QueryBatches`) gives query ``i``; items are numbered as the
Karpathy loader numbers them (images in order of first appearance, then the first 5 captions
of each entry in turn, for annotations that name each image once, as the Karpathy files do).
So image ``i`` of ``COCO_IP_fog_5`` written with ``--seed 0`` holds the pixels a ``fog@5`` run
at seed 0 feeds the model for image query ``i`` (exactly for lossless formats; JPEG adds its
re-encoding, see :mod:`.images`), and a caption likewise (see :mod:`.texts` for the caption
normalisation). Every output depends only on (seed, shift, severity, item index), never on
worker count or order.

Runs are resumable: finished files are skipped, each file is written to a hidden temporary
name in its own folder and moved into place (:mod:`qshift.utils.io`), and stray temporaries of
a killed run are deleted at the next start; pool processes die with their parent
(:mod:`.workers`). Run one export per output folder at a time (a second concurrent run would
delete the first one's temporaries). ``<out>/manifest.json`` records each run and each output
folder (:mod:`.manifest`); adding to a folder built with another seed, from another annotation
or (word level) with another semantic filter is refused rather than silently mixing two recipes.

``build_audio`` / ``build_video`` write every audio or video item of a dataset (AudioCaps,
Clotho, MSR-VTT, ``avcsv``) once per (shift, severity), to
``<out>/<Prefix>_AP_<shift>_<severity>/`` and ``<out>/<Prefix>_VP_<shift>_<severity>/``, under
names that make the folder a media root of the same dataset spec (:mod:`.files`, :mod:`.audio`,
:mod:`.video`).

Composed image retrieval datasets (FashionIQ, CIRR, CIRCO) get FIQ-C / CIRR-C style copies in
their own layouts (:mod:`.cir`).

One module per kind of export (``images``, ``texts``, ``audio``, ``video``, ``cir``): each
registers its modality's severities and shift groups (:mod:`.kinds`) and builds on the shared run
machinery (:mod:`.runs`), so another modality is one more module plus its import here.
"""

from qshift.shifts.export.audio import AUDIO_SEVERITIES, build_audio
from qshift.shifts.export.cir import build_cir
from qshift.shifts.export.files import media_folder
from qshift.shifts.export.images import (
    IMAGE_SEVERITIES,
    JPEG_QUALITY,
    build_images,
    dataset_prefix,
    image_folder,
)
from qshift.shifts.export.kinds import ExportKind, export_kind, parse_severities, parse_shifts
from qshift.shifts.export.manifest import Manifest
from qshift.shifts.export.texts import MAX_CAPTIONS, SENTENCE_LEVEL, TEXT_LEVELS, build_texts, text_folder
from qshift.shifts.export.video import VIDEO_SEVERITIES, build_video

__all__ = [
    "AUDIO_SEVERITIES",
    "IMAGE_SEVERITIES",
    "JPEG_QUALITY",
    "MAX_CAPTIONS",
    "SENTENCE_LEVEL",
    "TEXT_LEVELS",
    "VIDEO_SEVERITIES",
    "ExportKind",
    "Manifest",
    "build_audio",
    "build_cir",
    "build_images",
    "build_texts",
    "build_video",
    "dataset_prefix",
    "export_kind",
    "image_folder",
    "media_folder",
    "parse_severities",
    "parse_shifts",
    "text_folder",
]
