"""Old import path of the ``scenes`` source model; the code lives in :mod:`qshift.scenes`."""

from qshift.scenes.model import (
    ASSETS,
    DEFAULT_WEIGHTS,
    EMBED_DIM,
    MAX_TEXT_TOKENS,
    SCENES_I2T_LR,
    SCENES_I2T_LRS,
    SceneEncoder,
    SceneTextTower,
    config_path,
    load_scenes_encoder,
    load_spec,
    minilm_path,
    normalise_images,
    resize_images,
)

__all__ = [
    "ASSETS",
    "DEFAULT_WEIGHTS",
    "EMBED_DIM",
    "MAX_TEXT_TOKENS",
    "SCENES_I2T_LR",
    "SCENES_I2T_LRS",
    "SceneEncoder",
    "SceneTextTower",
    "config_path",
    "load_scenes_encoder",
    "load_spec",
    "minilm_path",
    "normalise_images",
    "resize_images",
]
