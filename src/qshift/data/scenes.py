"""Old import path of the ``scenes`` datasets; the code lives in :mod:`qshift.scenes`."""

from qshift.scenes.captions import CAPTIONS_PER_IMAGE, STYLES, CaptionPlan, caption_plans, write_caption
from qshift.scenes.dataset import load_scenes_dataset, load_spec, scenes_split
from qshift.scenes.generator import (
    BACKGROUNDS,
    COLOURS,
    COLS,
    ROWS,
    SHAPES,
    SIZES,
    SPLIT_CODES,
    SPLIT_SIZES,
    Background,
    Scene,
    SceneObject,
    generate_scenes,
    sample_scene,
    scene_rng,
)
from qshift.scenes.lexicons import Lexicon
from qshift.scenes.render import RAW_SIZE, render_scene

__all__ = [
    "BACKGROUNDS",
    "CAPTIONS_PER_IMAGE",
    "COLOURS",
    "COLS",
    "RAW_SIZE",
    "ROWS",
    "SHAPES",
    "SIZES",
    "SPLIT_CODES",
    "SPLIT_SIZES",
    "STYLES",
    "Background",
    "CaptionPlan",
    "Lexicon",
    "Scene",
    "SceneObject",
    "caption_plans",
    "generate_scenes",
    "load_scenes_dataset",
    "load_spec",
    "render_scene",
    "sample_scene",
    "scene_rng",
    "scenes_split",
    "write_caption",
]
