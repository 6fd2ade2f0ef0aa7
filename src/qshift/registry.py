"""The one registry: kind/name → ``"module:attr"`` plus a one-line doc.

Kinds: ``method`` (an :class:`~qshift.methods.base.Adapter` class), ``encoder`` and ``dataset``
(a loader taking the whole spec string, keyed by the spec's prefix: ``hf`` for ``hf:<dir>``),
``shift`` (a callable ``(item, severity, seed=0, **options)``, keyed by modality and name),
``suite`` (a function returning a bench suite) and ``task`` (a :class:`~qshift.tasks.Task`).

Entries hold the import path as a string, so reading the registry (``qshift list``, every
``names()``) imports nothing; :meth:`Entry.load` imports the one entry asked for. The built-in
entries are the table at the bottom of this file: adding a method, encoder, dataset, shift or
suite is one file plus one line there. User code and tests may :func:`register` more at run
time, with a target string or the object itself.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

KINDS = ("method", "transform", "encoder", "dataset", "shift", "suite", "task")


@dataclass(frozen=True)
class Entry:
    """One registered name: what it is, where it lives and what it does."""

    kind: str
    name: str
    #: ``"module:attr"`` (imported on :meth:`load`) or the object itself
    target: Any
    doc: str
    #: shifts: the modality they apply to
    modality: str | None = None
    #: encoders and datasets: the spec form ``qshift list`` shows (``hf:<dir-or-hub-id>``)
    form: str | None = None

    def load(self) -> Any:
        """The registered object, importing its module on first use."""
        if not isinstance(self.target, str):
            return self.target
        module, _, attr = self.target.partition(":")
        loaded: Any = importlib.import_module(module)
        for part in attr.split("."):
            loaded = getattr(loaded, part)
        return loaded


_ENTRIES: dict[tuple[str, str | None, str], Entry] = {}


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown registry kind {kind!r}; kinds: {', '.join(KINDS)}")


def register(
    kind: str,
    name: str,
    target: Any,
    doc: str,
    *,
    modality: str | None = None,
    form: str | None = None,
    replace: bool = False,
) -> Entry:
    """Add an entry; a name already registered for that kind (and modality) needs ``replace``."""
    _check_kind(kind)
    if (kind == "shift") != (modality is not None):
        raise ValueError(f"{kind} {name!r}: shifts need a modality, other kinds take none")
    key = (kind, modality, name)
    if key in _ENTRIES and not replace:
        raise ValueError(f"{kind} {name!r} is already registered (pass replace=True to override it)")
    entry = Entry(kind, name, target, doc, modality, form)
    _ENTRIES[key] = entry
    return entry


def unregister(kind: str, name: str, modality: str | None = None) -> None:
    """Remove an entry (for tests and plug-ins that clean up after themselves)."""
    _ENTRIES.pop((kind, modality, name), None)


def entries(kind: str, modality: str | None = None) -> list[Entry]:
    """Entries of ``kind`` in registration order; shifts of one ``modality`` when given."""
    _check_kind(kind)
    return [e for e in _ENTRIES.values() if e.kind == kind and (modality is None or e.modality == modality)]


def names(kind: str, modality: str | None = None) -> list[str]:
    """Registered names of ``kind`` (of one shift ``modality`` when given), in order."""
    return list(dict.fromkeys(e.name for e in entries(kind, modality)))


def get(kind: str, name: str, modality: str | None = None) -> Entry:
    """The entry ``kind``/``name``; ValueError listing what is available."""
    _check_kind(kind)
    found = [e for e in entries(kind, modality) if e.name == name]
    if not found:
        where = f" for {modality}" if modality else ""
        available = ", ".join(names(kind, modality)) or "none"
        raise ValueError(f"unknown {kind} {name!r}{where}; available: {available}")
    return found[0]


def load(kind: str, name: str, modality: str | None = None) -> Any:
    """The object registered as ``kind``/``name``."""
    return get(kind, name, modality).load()


def modalities_of(name: str) -> list[str]:
    """The modalities that have a shift called ``name``."""
    return [e.modality for e in entries("shift") if e.name == name and e.modality is not None]


def listing() -> list[str]:
    """One line per entry (``qshift list``), from the docs alone: nothing is imported."""
    lines = []
    for kind in ("method", "transform", "encoder", "dataset", "suite", "task", "shift"):
        for e in entries(kind):
            label = e.form or e.name
            if kind == "shift":
                label = f"{e.modality}:{e.name}"
            lines.append(f"{kind:<8} {label:<34} {e.doc}")
    return lines


# -- the built-in entries ----------------------------------------------------------------------
def _method(name: str, target: str, doc: str) -> None:
    register("method", name, f"qshift.methods.{target}", doc)


def _encoder(name: str, target: str, doc: str, form: str) -> None:
    register("encoder", name, target, doc, form=form)


def _dataset(name: str, target: str, doc: str, form: str) -> None:
    register("dataset", name, target, doc, form=form)


def _shift(modality: str, name: str, target: str, doc: str) -> None:
    register("shift", name, f"qshift.shifts.{target}", doc, modality=modality)


def _task(name: str, doc: str) -> None:
    register("task", name, f"qshift.tasks:{name.upper()}", doc)


_method("source", "source:Source", "no adaptation: the source model's scores")
_method("tent", "tent:Tent", "entropy minimisation over the gallery softmax (Wang et al., ICLR 2021)")
_method("eata", "eata:Eata", "entropy on reliable, non-redundant queries (Niu et al., ICML 2022)")
_method("sar", "sar:Sar", "sharpness-aware reliable entropy minimisation (Niu et al., ICLR 2023)")
_method("read", "read:Read", "confidence-weighted entropy with diversity (Yang et al., ICLR 2024)")
_method("deyo", "deyo:Deyo", "entropy and pseudo-label probability difference (Lee et al., ICLR 2024)")
_method("shot", "shot:Shot", "information maximisation with confident pseudo-labels (Liang et al., 2020)")
_method("tcr", "tcr:TCR", "TCR: query-prediction refinement, REM, uniformity, modality gap (ICLR 2025)")
_method("tcr-free", "tcr_free:TCRFree", "TCR's training-free variant: moves query embeddings, no update")
_method("tcr-gd", "tcr_gd:TCRGradientDecoupling", "TCR whose update drops what conflicts with source")
_method("recenter", "recenter:Recenter", "training-free: shift the stream's query mean to the clean mean")
_method("qbnorm", "qbnorm:QBNorm", "training-free: querybank normalisation (Bogolin et al., CVPR 2022)")
_method("dbnorm", "dbnorm:DBNorm", "training-free: dual-bank normalisation (Wang et al., EMNLP 2023)")
_method("align", "align:Align", "align norm-layer activation statistics to clean ones (ActMAD-style)")
_method("qshift", "qshift:QShift", "qshift's own: TCR + statistics alignment, re-centered and QB-normed")

register(
    "transform", "recenter", "qshift.methods.recenter:RecenterTransform", "post=: stream mean -> clean mean"
)
register("transform", "qbnorm", "qshift.methods.qbnorm:QBNormTransform", "post=: QB-Norm, the stream as bank")
register(
    "transform", "smooth", "qshift.methods.smooth:GallerySmoothing", "post=: k-NN gallery score smoothing"
)
register(
    "transform", "dbnorm", "qshift.methods.dbnorm:DBNormTransform", "post=: DBNorm, query and gallery banks"
)

_encoder(
    "scenes",
    "qshift.scenes.model:load_spec",
    "the shipped scenes model, or scenes weights written by `qshift pretrain scenes`",
    "scenes[:<weights.safetensors>]",
)
_encoder(
    "hf",
    "qshift.encoders.hf:load_spec",
    "Hugging Face CLIP/SigLIP/BLIP (image, video, cir as image + text sum), CLAP, X-CLIP",
    "hf:<dir-or-hub-id>",
)
_encoder(
    "combiner",
    "qshift.encoders.composed:load_spec",
    "trained CLIP4Cir-style combiner on the base model its .json records (qshift pretrain combiner)",
    "combiner:<weights.safetensors>",
)
_encoder(
    "open_clip",
    "qshift.encoders.open_clip:load_spec",
    "open_clip model from a local checkpoint (needs qshift[open_clip])",
    "open_clip:<arch>:<checkpoint>",
)
_encoder(
    "scenes-cir",
    "qshift.scenes_cir.model:load_spec",
    "the shipped scenes composed-retrieval model (scenes towers + Combiner), or its retrained weights",
    "scenes-cir[:<weights.safetensors>]",
)
_encoder(
    "scenes-av",
    "qshift.scenes_av.model:load_spec",
    "the shipped scenes-av video–audio model, or weights written by `qshift pretrain scenes-av`",
    "scenes-av[:<weights.safetensors>]",
)

_dataset(
    "scenes",
    "qshift.scenes.dataset:load_spec",
    "built-in procedural captioned scenes (splits train/val/test; default test)",
    "scenes[:<split>]",
)
_dataset(
    "coco",
    "qshift.data.karpathy:load_karpathy_spec",
    "COCO Karpathy test (coco_karpathy_test.json in <root> or <root>/annotation)",
    "coco:<root>",
)
_dataset(
    "flickr",
    "qshift.data.karpathy:load_karpathy_spec",
    "Flickr30K Karpathy test (flickr30k_test.json in <root> or <root>/annotation)",
    "flickr:<root>",
)
_dataset(
    "karpathy",
    "qshift.data.karpathy:load_karpathy_spec",
    "any BLIP-format Karpathy annotation, e.g. a corrupted copy",
    "karpathy:<json>:<image_root>",
)
_dataset(
    "nocaps",
    "qshift.data.qgs:load_qgs_spec",
    "NoCaps, one domain or all",
    "nocaps:<json>:<image_root>[:in|near|out|entire]",
)
_dataset(
    "fashiongen",
    "qshift.data.qgs:load_qgs_spec",
    "Fashion-Gen, relevance within a product",
    "fashiongen:<json>:<image_root>",
)
_dataset(
    "cuhk-pedes",
    "qshift.data.qgs:load_qgs_spec",
    "CUHK-PEDES test split, relevance by person id",
    "cuhk-pedes:<json>:<image_root>",
)
_dataset(
    "icfg-pedes",
    "qshift.data.qgs:load_qgs_spec",
    "ICFG-PEDES test split, relevance by person id",
    "icfg-pedes:<json>:<image_root>",
)
_dataset(
    "scenes-cir",
    "qshift.scenes_cir.dataset:load_spec",
    "built-in composed retrieval on scenes: reference + modification -> target (train/val/test)",
    "scenes-cir[:<split>]",
)

_dataset(
    "audiocaps",
    "qshift.data.audio_text:load_audio_text_spec",
    "AudioCaps captions CSV with local audio files (a2t, t2a)",
    "audiocaps:<csv>:<audio_root>",
)
_dataset(
    "clotho",
    "qshift.data.audio_text:load_audio_text_spec",
    "Clotho captions CSV with its audio files (a2t, t2a)",
    "clotho:<csv>:<audio_root>",
)
_dataset(
    "msrvtt",
    "qshift.data.msrvtt:load_msrvtt_spec",
    "MSR-VTT videos and captions; the 1k-A test from its JSFusion CSV (v2t, t2v)",
    "msrvtt:<json|csv>:<video_root>[:<split>]",
)
_dataset(
    "avcsv",
    "qshift.data.av_csv:load_av_csv_spec",
    "AudioSet / VGGSound style CSV of local clips, relevance by clip (a2v, v2a)",
    "avcsv:<csv>:<clip_root>[:<audio_root>]",
)
_dataset(
    "fashioniq",
    "qshift.data.fashioniq:load_spec",
    "FashionIQ val (cir): R@10/R@50 per category, their means, average; all three or one",
    "fashioniq:<root>[:dress|shirt|toptee]",
)
_dataset(
    "cirr",
    "qshift.data.cirr:load_spec",
    "CIRR (cir; default val): R@1/5/10/50, Recall_subset@1/2/3, (R@5 + Rsub@1) / 2",
    "cirr:<root>[:<split>]",
)
_dataset(
    "circo",
    "qshift.data.circo:load_spec",
    "CIRCO (cir; default val) over COCO 2017 unlabeled: mAP@5/10/25/50",
    "circo:<root>[:<split>]",
)
_dataset(
    "scenes-av",
    "qshift.scenes_av.dataset:load_spec",
    "built-in procedural clips with their soundtracks, a2v/v2a (splits train/val/test; default test)",
    "scenes-av[:<split>]",
)

register("suite", "scenes-qs-image", "qshift.bench.suites:scenes_qs_image", "scenes i2t: 16 corruptions @5")
register(
    "suite", "scenes-qs-text", "qshift.bench.suites:scenes_qs_text", "scenes t2i: the paper's 15 text shifts"
)
register("suite", "scenes-qs", "qshift.bench.suites:scenes_qs", "scenes-qs-image and scenes-qs-text")
register(
    "suite",
    "scenes-cir-image",
    "qshift.bench.suites:scenes_cir_image",
    "scenes-cir: 16 corruptions @5 on the reference",
)
register(
    "suite",
    "scenes-cir-text",
    "qshift.bench.suites:scenes_cir_text",
    "scenes-cir: 15 text shifts on the modification",
)
register("suite", "scenes-av-audio", "qshift.bench.suites:scenes_av_audio", "scenes-av a2v: audio shifts @5")
register("suite", "scenes-av-video", "qshift.bench.suites:scenes_av_video", "scenes-av v2a: video shifts @5")

_task("i2t", "image queries, text gallery")
_task("t2i", "text queries, image gallery")
_task("cir", "composed image+text queries, image gallery")
_task("a2v", "audio queries, video gallery")
_task("v2a", "video queries, audio gallery")
_task("a2t", "audio queries, text gallery")
_task("t2a", "text queries, audio gallery")
_task("v2t", "video queries, text gallery")
_task("t2v", "text queries, video gallery")

_shift("image", "gaussian_noise", "image:gaussian_noise", "additive Gaussian noise (σ .08–.38)")
_shift("image", "shot_noise", "image:shot_noise", "Poisson photon noise (λ 60–3)")
_shift("image", "impulse_noise", "image:impulse_noise", "salt-and-pepper noise (amount .03–.27)")
_shift("image", "speckle_noise", "image:speckle_noise", "multiplicative Gaussian noise (.15–.6)")
_shift("image", "defocus_blur", "image:defocus_blur", "disk-kernel defocus blur")
_shift("image", "glass_blur", "image:glass_blur", "Gaussian blur with local pixel shuffles")
_shift("image", "motion_blur", "image:motion_blur", "linear motion blur at a random angle")
_shift("image", "zoom_blur", "image:zoom_blur", "average of centre zooms")
_shift("image", "snow", "image:snow", "falling snow layer over a greyed image")
_shift("image", "frost", "image:frost", "frost texture blended over the image")
_shift("image", "fog", "image:fog", "plasma-fractal fog veil")
_shift("image", "brightness", "image:brightness", "brighter HSV value (+.1–+.5)")
_shift("image", "contrast", "image:contrast", "contrast towards the mean (.4–.05)")
_shift("image", "elastic_transform", "image:elastic_transform", "smooth random elastic warp")
_shift("image", "pixelate", "image:pixelate", "down- and up-sampling by box averaging")
_shift("image", "jpeg_compression", "image:jpeg_compression", "JPEG re-encoding at low quality")

_shift("text", "keyboard", "text:keyboard", "replace characters with QWERTY neighbours")
_shift("text", "ocr", "text:ocr", "replace characters with OCR confusions (0/o, 1/l, 5/s, ...)")
_shift("text", "char_insert", "text:char_insert", "insert random characters")
_shift("text", "char_substitute", "text:char_substitute", "substitute random characters")
_shift("text", "char_swap", "text:char_swap", "swap adjacent characters")
_shift("text", "char_delete", "text:char_delete", "delete random characters")
_shift("text", "synonym_replace", "text:synonym_replace", "replace words with WordNet synonyms (EDA SR)")
_shift("text", "random_insert", "text:random_insert", "insert synonyms of random words (EDA RI)")
_shift("text", "random_swap", "text:random_swap", "swap random word pairs (EDA RS)")
_shift("text", "random_delete", "text:random_delete", "delete words with probability p (EDA RD)")
_shift("text", "insert_punctuation", "text:insert_punctuation", "insert . , ! ? ; : before words (AEDA)")
_shift("text", "formal", "text:formal", "rewrite in a formal style (seq2seq model)")
_shift("text", "casual", "text:casual", "rewrite in a casual style (seq2seq model)")
_shift("text", "passive", "text:passive", "rewrite in the passive voice (seq2seq model)")
_shift("text", "active", "text:active", "rewrite in the active voice (seq2seq model)")
_shift("text", "back_translation", "text:back_translation", "translate en->de->en (two seq2seq models)")

_shift("audio", "gaussian_noise", "audio:gaussian_noise", "white Gaussian noise, std 0.08–0.38 (READ)")
_shift("audio", "traffic", "audio:traffic", "road rumble and passing cars, +1–8 dB (READ's gains)")
_shift("audio", "crowd", "audio:crowd", "babble of twelve talkers with vowel formants, +1–8 dB")
_shift("audio", "rain", "audio:rain", "rain hiss with dense ringing droplets, +1–8 dB")
_shift("audio", "thunder", "audio:thunder", "thunderclaps decaying into low rumbles, +1–8 dB")
_shift("audio", "wind", "audio:wind", "gusty band-passed wind with buffeting and whistling, +1–8 dB")

_shift("video", "gaussian_noise", "video:gaussian_noise", "Gaussian noise on every frame (one draw per clip)")
_shift("video", "shot_noise", "video:shot_noise", "Poisson noise on every frame (one draw per clip)")
_shift("video", "impulse_noise", "video:impulse_noise", "salt-and-pepper noise on every frame")
_shift("video", "defocus_blur", "video:defocus_blur", "defocus blur on every frame")
_shift("video", "glass_blur", "video:glass_blur", "glass blur on every frame (one draw per clip)")
_shift("video", "motion_blur", "video:motion_blur", "motion blur at one angle on every frame")
_shift("video", "zoom_blur", "video:zoom_blur", "zoom blur on every frame")
_shift("video", "snow", "video:snow", "one snow layer on every frame")
_shift("video", "frost", "video:frost", "one frost texture on every frame")
_shift("video", "fog", "video:fog", "one fog veil on every frame")
_shift("video", "brightness", "video:brightness", "brighter frames (HSV value +.1–+.5)")
_shift("video", "contrast", "video:contrast", "lower contrast on every frame")
_shift("video", "elastic_transform", "video:elastic_transform", "one elastic warp on every frame")
_shift("video", "pixelate", "video:pixelate", "pixelated frames")
_shift("video", "jpeg_compression", "video:jpeg_compression", "JPEG re-encoding of every frame")
_shift("video", "frame_drop", "video:frame_drop", "1–5 of 8 frames dropped, each showing the frame before")
_shift("video", "frame_shuffle", "video:frame_shuffle", "1–5 of 8 positions where neighbouring frames swap")
_shift("video", "freeze", "video:freeze", "one frame held over the next 1–5 of 8 frames")
