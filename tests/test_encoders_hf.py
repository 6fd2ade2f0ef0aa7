"""Hugging Face (CLIP, SigLIP, BLIP) and open_clip encoders on tiny random checkpoints."""

from __future__ import annotations

import copy
import json
import shutil
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from qshift.encoders import load_encoder, resolve_precision
from qshift.encoders.hf import HFEncoder, ImagePreprocess
from qshift.encoders.presets import preset_for

FAMILY_DIRS = {"clip": "tiny_clip_dir", "siglip": "tiny_siglip_dir", "blip": "tiny_blip_dir"}
WIDTHS = {"clip": 24, "siglip": 32, "blip": 24}
TEXTS = ["a red circle", "two blue squares on the left of a big green triangle", "a dog"]


@pytest.fixture(scope="module", params=sorted(FAMILY_DIRS))
def family_encoder(request) -> tuple[str, HFEncoder]:
    """(family, encoder) for each tiny checkpoint, loaded once per module."""
    directory = request.getfixturevalue(FAMILY_DIRS[request.param])
    return request.param, load_encoder(f"hf:{directory}", device="cpu")


@pytest.fixture(scope="module")
def clip_encoder(tiny_clip_dir) -> HFEncoder:
    return load_encoder(f"hf:{tiny_clip_dir}", device="cpu")


def random_images(seed: int = 0, sizes=((30, 50), (64, 20), (32, 32))) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8) for h, w in sizes]


def names_of(tower: nn.Module, params: list[nn.Parameter]) -> set[str]:
    by_id = {id(p): name for name, p in tower.named_parameters()}
    return {by_id[id(p)] for p in params}


# -- loading and embedding ----------------------------------------------------------------------
def test_model_type_is_detected_from_config(family_encoder):
    family, encoder = family_encoder
    assert isinstance(encoder, HFEncoder)
    assert encoder.family == family
    assert encoder.dim == WIDTHS[family]
    assert encoder.name.startswith("hf:")
    assert encoder.device == torch.device("cpu")


def test_embeddings_have_the_shared_width_and_unit_norm(family_encoder):
    family, encoder = family_encoder
    images = encoder.embed_images(random_images())
    texts = encoder.embed_texts(TEXTS)
    assert images.shape == (3, WIDTHS[family]) and texts.shape == (3, WIDTHS[family])
    torch.testing.assert_close(images.norm(dim=1), torch.ones(3))
    torch.testing.assert_close(texts.norm(dim=1), torch.ones(3))
    assert not torch.allclose(images[0], images[1])


def test_embeddings_do_not_depend_on_batch_company(family_encoder):
    _, encoder = family_encoder
    together = encoder.embed_texts(TEXTS)
    alone = torch.cat([encoder.embed_texts([t]) for t in TEXTS])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-4)
    images = random_images()
    torch.testing.assert_close(encoder.embed_images(images), encoder.embed_images(images, batch_size=1))


def test_query_tower_follows_the_direction(family_encoder):
    family, encoder = family_encoder
    assert encoder.query_tower("i2t") is encoder.image_tower()
    assert encoder.query_tower("t2i") is encoder.text_tower()
    assert encoder.gallery_tower("i2t") is encoder.text_tower()
    image_roots = {name.split(".")[0] for name, _ in encoder.image_tower().named_parameters()}
    text_roots = {name.split(".")[0] for name, _ in encoder.text_tower().named_parameters()}
    assert image_roots == {"clip": {"vision_model", "visual_projection"}, "siglip": {"vision_model"}}.get(
        family, {"vision_model", "vision_proj"}
    )
    assert not image_roots & text_roots
    with pytest.raises(ValueError, match="direction"):
        encoder.query_tower("x2y")


def test_text_batches_follow_each_family(family_encoder):
    family, encoder = family_encoder
    batch = encoder.prepare_texts(["word " * 60, "short"])
    if family == "siglip":
        assert set(batch) == {"input_ids"} and batch["input_ids"].shape == (2, 16)
    else:
        assert set(batch) == {"input_ids", "attention_mask"}
        assert batch["input_ids"].shape[1] == (35 if family == "blip" else 40)
        assert batch["attention_mask"][1].sum() == 3  # [CLS] short [SEP]


# -- presets -----------------------------------------------------------------------------------
def test_clip_text_preset_excludes_the_final_layer_norm(clip_encoder):
    tower = clip_encoder.query_tower("t2i")
    chosen = names_of(tower, clip_encoder.adapt_params("t2i")(tower))
    assert chosen == {
        f"text_model.encoder.layers.{i}.layer_norm{j}.{k}"
        for i in range(2)
        for j in (1, 2)
        for k in ("weight", "bias")
    }
    assert "text_model.final_layer_norm.weight" in dict(tower.named_parameters())


def test_clip_image_preset_takes_every_vision_layer_norm(clip_encoder):
    tower = clip_encoder.query_tower("i2t")
    chosen = names_of(tower, clip_encoder.adapt_params("i2t")(tower))
    assert len(chosen) == 12
    assert {"vision_model.pre_layrnorm.weight", "vision_model.post_layernorm.bias"} <= chosen
    assert all("norm" in name for name in chosen)


@pytest.mark.parametrize(
    ("direction", "count", "included", "excluded"),
    [
        ("i2t", 10, "vision_model.post_layernorm.weight", "vision_proj.weight"),
        (
            "t2i",
            10,
            "text_encoder.embeddings.LayerNorm.weight",
            "text_encoder.encoder.layer.0.crossattention",
        ),
    ],
)
def test_blip_presets(tiny_blip_dir, direction, count, included, excluded):
    encoder = load_encoder(f"hf:{tiny_blip_dir}", device="cpu")
    tower = encoder.query_tower(direction)
    chosen = names_of(tower, encoder.adapt_params(direction)(tower))
    assert len(chosen) == count and included in chosen
    assert not any(name.startswith(excluded) for name in chosen)


def test_siglip_presets_mirror_clip(tiny_siglip_dir):
    encoder = load_encoder(f"hf:{tiny_siglip_dir}", device="cpu")
    image = names_of(encoder.image_tower(), encoder.adapt_params("i2t")(encoder.image_tower()))
    text = names_of(encoder.text_tower(), encoder.adapt_params("t2i")(encoder.text_tower()))
    assert "vision_model.head.layernorm.weight" in image and "vision_model.post_layernorm.bias" in image
    assert "text_model.final_layer_norm.weight" not in text and len(text) == 8


def test_preset_errors():
    with pytest.raises(ValueError, match="family"):
        preset_for("resnet", "i2t")
    with pytest.raises(ValueError, match="found no LayerNorm"):
        preset_for("clip", "i2t")(nn.Linear(2, 2))


def test_preset_parameters_receive_gradients(family_encoder):
    family, encoder = family_encoder
    for direction, items in (("i2t", random_images()), ("t2i", TEXTS)):
        tower = encoder.query_tower(direction)
        params = encoder.adapt_params(direction)(tower)
        modality = "image" if direction == "i2t" else "text"
        tower(encoder.prepare(modality, items)).pow(2).sum().backward()
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in params), (family, direction)
        tower.zero_grad(set_to_none=True)


def test_functional_call_and_deepcopy_reach_the_tower_weights(clip_encoder):
    tower = clip_encoder.image_tower()
    batch = clip_encoder.prepare_images(random_images())
    with torch.no_grad():
        base = tower(batch)
        name = "vision_model.post_layernorm.weight"
        swapped = torch.func.functional_call(tower, {name: torch.zeros(32)}, (batch,), strict=False)
        twin = copy.deepcopy(tower)
        twin.get_parameter(name).mul_(2.0)
        torch.testing.assert_close(tower(batch), base)
        assert not torch.allclose(swapped, base) and not torch.allclose(twin(batch), base)


def test_blip_text_to_image_uses_the_papers_lower_learning_rate(family_encoder):
    family, encoder = family_encoder
    assert encoder.method_defaults("tcr", "t2i") == ({"lr": 3e-5} if family == "blip" else {})
    assert encoder.method_defaults("tcr", "i2t") == {}


def test_moving_the_encoder_moves_the_whole_wrapped_model(tiny_clip_dir):
    encoder = load_encoder(f"hf:{tiny_clip_dir}", device="cpu").double()
    assert encoder._model.logit_scale.dtype == torch.float64  # not part of either tower
    norm = encoder.image_tower().vision_model.post_layernorm
    assert norm.weight.dtype == torch.float64 and norm is encoder._model.vision_model.post_layernorm


@pytest.mark.parametrize(("family", "direction"), [("clip", "i2t"), ("blip", "t2i")])
def test_end_to_end_tcr_on_a_tiny_karpathy_split(request, tiny_karpathy, family, direction):
    import qshift

    encoder = load_encoder(f"hf:{request.getfixturevalue(FAMILY_DIRS[family])}", device="cpu")
    tower = encoder.query_tower(direction)
    source = {name: p.detach().clone() for name, p in tower.named_parameters()}
    result = qshift.evaluate(
        encoder, qshift.load_dataset(tiny_karpathy.spec), direction, "none", "tcr", batch_size=4
    )
    assert set(result.metrics) >= {"r1", "r5", "r10", "r_mean", "map"}
    assert all(0.0 <= result.metrics[k] <= 100.0 for k in ("r1", "r5", "r10", "map"))
    for name, param in tower.named_parameters():
        torch.testing.assert_close(param.detach(), source[name], rtol=0, atol=0)


# -- preprocessing ------------------------------------------------------------------------------
def test_preprocessing_matches_transformers_pil_processors():
    from conftest import BLIP_PREPROCESSOR, CLIP_PREPROCESSOR
    from transformers import BlipImageProcessorPil, CLIPImageProcessorPil

    for config, processor_cls, square in (
        (CLIP_PREPROCESSOR, CLIPImageProcessorPil, False),
        (BLIP_PREPROCESSOR, BlipImageProcessorPil, True),
    ):
        reference = processor_cls(**{k: v for k, v in config.items() if k != "image_processor_type"})
        ours = ImagePreprocess.from_config(config, "test", square_default=square)
        for image in random_images(1, sizes=((30, 50), (64, 20), (300, 200))):
            expected = reference(images=image, return_tensors="pt")["pixel_values"]
            torch.testing.assert_close(ours([image]), expected, atol=1e-5, rtol=0)


def test_clip_preprocessing_resizes_shortest_edge_then_crops(clip_encoder):
    preprocess = clip_encoder.preprocess
    assert preprocess.resize == 40 and preprocess.crop == (32, 32)
    assert clip_encoder.prepare_images(random_images()).shape == (3, 3, 32, 32)
    assert clip_encoder.prepare_images([]).shape == (0, 3, 32, 32)


def test_missing_processor_config_uses_family_defaults(tiny_siglip_dir):
    preprocess = load_encoder(f"hf:{tiny_siglip_dir}", device="cpu").preprocess
    assert preprocess.resize == (32, 32) and preprocess.crop is None
    assert preprocess.mean == (0.5, 0.5, 0.5) and preprocess.std == (0.5, 0.5, 0.5)


def test_legacy_int_sizes_and_bad_fields():
    clip = ImagePreprocess.from_config({"size": 224, "do_center_crop": True, "crop_size": 224}, "x", False)
    assert clip.resize == 224 and clip.crop == (224, 224)
    assert ImagePreprocess.from_config({"size": 384}, "x", square_default=True).resize == (384, 384)
    with pytest.raises(ValueError, match="'size'"):
        ImagePreprocess.from_config({"size": {"longest_edge": 5}}, "x", square_default=True)
    with pytest.raises(ValueError, match="image_mean"):
        ImagePreprocess.from_config({"size": 8, "image_mean": [0.1, 0.2]}, "x", square_default=True)


# -- errors -------------------------------------------------------------------------------------
def test_missing_directory_is_named(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(ValueError, match="model directory not found") as err:
        load_encoder(f"hf:{missing}")
    assert str(missing) in str(err.value)


def test_uncached_hub_id_fails_offline():
    with pytest.raises(ValueError, match="HF_HUB_OFFLINE"):
        load_encoder("hf:qshift-tests/not-a-cached-model", device="cpu")


def test_unsupported_model_type_is_named(tmp_path):
    from transformers import BertConfig

    BertConfig(
        hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8
    ).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="unsupported model type 'bert'"):
        load_encoder(f"hf:{tmp_path}", device="cpu")


def test_unknown_config_is_reported(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "not-a-model"}))
    with pytest.raises(ValueError, match="cannot load a model config"):
        load_encoder(f"hf:{tmp_path}", device="cpu")


def test_blip_captioning_checkpoint_is_refused(tiny_blip_dir, tmp_path):
    config = json.loads((tiny_blip_dir / "config.json").read_text())
    config["architectures"] = ["BlipForConditionalGeneration"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="BlipForImageTextRetrieval"):
        load_encoder(f"hf:{tmp_path}", device="cpu")


def test_towers_of_different_widths_are_refused(tmp_path):
    from conftest import _text_config, _tokenizer, _vision_config, save_tiny_checkpoint
    from transformers import SiglipConfig, SiglipModel

    tokenizer = _tokenizer()
    config = SiglipConfig(
        text_config=_text_config(tokenizer, 16, projection_size=16), vision_config=_vision_config()
    )
    save_tiny_checkpoint(tmp_path, SiglipModel, config, None, tokenizer=tokenizer)
    with pytest.raises(ValueError, match="towers disagree in width") as err:
        load_encoder(f"hf:{tmp_path}", device="cpu")
    assert "text_config.projection_size" in str(err.value) and str(tmp_path) in str(err.value)


def test_checkpoint_missing_tower_weights_is_refused(tiny_clip_dir, tmp_path):
    from safetensors.torch import load_file, save_file

    for item in tiny_clip_dir.iterdir():
        shutil.copy(item, tmp_path / item.name)
    weights = load_file(tiny_clip_dir / "model.safetensors")
    del weights["visual_projection.weight"]
    save_file(weights, tmp_path / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ValueError, match="visual_projection.weight"):
        load_encoder(f"hf:{tmp_path}", device="cpu")


def test_missing_tokenizer_is_reported(tiny_clip_dir, tmp_path):
    for name in ("config.json", "model.safetensors", "preprocessor_config.json"):
        shutil.copy(tiny_clip_dir / name, tmp_path / name)
    with pytest.raises(ValueError, match="tokenizer"):
        load_encoder(f"hf:{tmp_path}", device="cpu")


@pytest.mark.parametrize("spec", ["resnet50", "hf:", "open_clip:ViT-B-32"])
def test_unknown_or_malformed_specs(spec):
    with pytest.raises(ValueError, match="spec"):
        load_encoder(spec, device="cpu")


def test_scenes_spec_is_dispatched_with_its_weights(monkeypatch):
    import qshift.scenes.model as scenes

    model = nn.Linear(2, 2)
    asked = []
    monkeypatch.setattr(scenes, "load_scenes_encoder", lambda weights=None: asked.append(weights) or model)
    assert load_encoder("scenes", device="cpu") is model
    assert load_encoder("scenes:/w/retrained.safetensors", device="cpu") is model
    assert asked == [None, "/w/retrained.safetensors"]


# -- precision ----------------------------------------------------------------------------------
def test_precision_resolution():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert resolve_precision("auto", cpu) is None and resolve_precision("bf16", cpu) is None
    assert resolve_precision("fp32", cuda) is None
    assert resolve_precision("bf16", cuda) is torch.bfloat16
    assert resolve_precision("fp16", cuda) is torch.float16
    with pytest.raises(ValueError, match="precision"):
        resolve_precision("int8", cpu)
    with pytest.raises(ValueError, match="precision"):
        load_encoder("scenes", device="cpu", precision="fp64")


def test_cpu_always_runs_float32(tiny_clip_dir):
    encoder = load_encoder(f"hf:{tiny_clip_dir}", device="cpu", precision="bf16")
    assert encoder.image_tower().amp_dtype is None
    assert encoder.embed_images(random_images()).dtype == torch.float32


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_autocast_keeps_layer_norms_in_float32(tiny_clip_dir):
    encoder = load_encoder(f"hf:{tiny_clip_dir}", device="cuda", precision="bf16")
    reference = load_encoder(f"hf:{tiny_clip_dir}", device="cuda", precision="fp32")
    seen = {}
    vision = encoder.image_tower().vision_model
    vision.post_layernorm.register_forward_hook(lambda m, i, o: seen.setdefault("norm", o.dtype))
    vision.encoder.layers[0].mlp.fc1.register_forward_hook(lambda m, i, o: seen.setdefault("linear", o.dtype))
    images = random_images()
    embedded = encoder.embed_images(images)
    assert seen == {"norm": torch.float32, "linear": torch.bfloat16}
    assert vision.post_layernorm.weight.dtype == torch.float32 and embedded.dtype == torch.float32
    torch.testing.assert_close(embedded, reference.embed_images(images), atol=3e-2, rtol=0)


# -- open_clip ------------------------------------------------------------------------------------
def test_open_clip_absent_names_the_install_step(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "open_clip", None)
    with pytest.raises(ValueError, match=r"pip install qshift\[open_clip\]"):
        load_encoder(f"open_clip:ViT-B-32:{tmp_path / 'model.pt'}", device="cpu")


class FakeVisual(nn.Module):
    """A stand-in for an open_clip visual tower: patchify, two LayerNorms, a projection."""

    def __init__(self, preprocess_cfg: dict):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, kernel_size=8, stride=8)
        self.ln_pre, self.ln_post = nn.LayerNorm(16), nn.LayerNorm(16)
        self.proj = nn.Parameter(torch.randn(16, 12))
        self.image_size = 32
        self.preprocess_cfg = preprocess_cfg

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        tokens = self.ln_pre(self.conv1(images).flatten(2).transpose(1, 2))
        return self.ln_post(tokens.mean(dim=1)) @ self.proj


class FakeOpenCLIPModel(nn.Module):
    """A stand-in for open_clip's CLIP class: text parts live on the model, plus a mask buffer."""

    def __init__(self, preprocess_cfg: dict):
        super().__init__()
        self.visual = FakeVisual(preprocess_cfg)
        self.token_embedding = nn.Embedding(64, 16)
        self.positional_embedding = nn.Parameter(torch.randn(8, 16) * 0.1)
        self.transformer = nn.Sequential(nn.LayerNorm(16), nn.Linear(16, 16))
        self.ln_final = nn.LayerNorm(16)
        self.text_projection = nn.Parameter(torch.randn(16, 12))
        self.logit_scale = nn.Parameter(torch.ones([]))
        self.register_buffer("attn_mask", torch.zeros(8, 16), persistent=False)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return self.visual(images)

    def encode_text(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.token_embedding(ids) + self.positional_embedding + self.attn_mask
        return self.ln_final(self.transformer(x))[:, -1] @ self.text_projection


def fake_open_clip(preprocess_cfg: dict) -> types.ModuleType:
    """A module with open_clip's entry points (list_models, create_model, get_tokenizer)."""
    module = types.ModuleType("open_clip")
    module.list_models = lambda: ["fake-vit"]

    def create_model(name, pretrained=None, precision="fp32", device="cpu"):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return FakeOpenCLIPModel(preprocess_cfg)

    def tokenizer(texts):
        return torch.tensor([[sum(map(ord, w)) % 64 for w in (t.split() + ["."] * 8)[:8]] for t in texts])

    module.create_model = create_model
    module.get_tokenizer = lambda name: tokenizer
    return module


def test_open_clip_wrapper_on_a_stand_in_module(monkeypatch, tmp_path):
    cfg = {"size": (32, 32), "mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25), "resize_mode": "shortest"}
    monkeypatch.setitem(sys.modules, "open_clip", fake_open_clip(cfg))
    checkpoint = tmp_path / "fake.pt"
    checkpoint.write_bytes(b"weights")
    encoder = load_encoder(f"open_clip:fake-vit:{checkpoint}", device="cpu")
    assert encoder.dim == 12 and encoder.name == f"open_clip:fake-vit:{checkpoint}"
    assert (encoder.preprocess.resize, encoder.preprocess.crop) == (32, (32, 32))
    assert encoder.preprocess.std == (0.25, 0.25, 0.25)
    torch.testing.assert_close(encoder.embed_images(random_images()).norm(dim=1), torch.ones(3))
    assert encoder.embed_texts(TEXTS).shape == (3, 12)
    image = names_of(encoder.image_tower(), encoder.adapt_params("i2t")(encoder.image_tower()))
    text = names_of(encoder.text_tower(), encoder.adapt_params("t2i")(encoder.text_tower()))
    assert image == {f"visual.ln_{p}.{k}" for p in ("pre", "post") for k in ("weight", "bias")}
    assert text == {"transformer.0.weight", "transformer.0.bias"}
    assert "logit_scale" not in dict(encoder.text_tower().named_parameters())
    assert encoder.double()._model.attn_mask.dtype == torch.float64


def test_open_clip_wrapper_errors(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "open_clip", fake_open_clip({"size": 32, "resize_mode": "longest"}))
    checkpoint = tmp_path / "fake.pt"
    with pytest.raises(ValueError, match="checkpoint file not found"):
        load_encoder(f"open_clip:fake-vit:{checkpoint}", device="cpu")
    checkpoint.write_bytes(b"weights")
    with pytest.raises(ValueError, match="unknown open_clip architecture 'RN50'"):
        load_encoder(f"open_clip:RN50:{checkpoint}", device="cpu")
    with pytest.raises(ValueError, match="resize_mode 'longest'"):
        load_encoder(f"open_clip:fake-vit:{checkpoint}", device="cpu")


def test_open_clip_tiny_checkpoint(tmp_path: Path):
    open_clip = pytest.importorskip("open_clip")
    config = {
        "embed_dim": 24,
        "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "patch_size": 8, "head_width": 16},
        "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
    }
    (tmp_path / "qshift-tiny.json").write_text(json.dumps(config))
    open_clip.add_model_config(tmp_path / "qshift-tiny.json")
    torch.save(open_clip.create_model("qshift-tiny").state_dict(), tmp_path / "tiny.pt")
    encoder = load_encoder(f"open_clip:qshift-tiny:{tmp_path / 'tiny.pt'}", device="cpu")
    assert encoder.dim == 24
    torch.testing.assert_close(encoder.embed_texts(TEXTS).norm(dim=1), torch.ones(3))
    assert encoder.embed_images(random_images()).shape == (3, 24)
    text = names_of(encoder.text_tower(), encoder.adapt_params("t2i")(encoder.text_tower()))
    assert text and not any("ln_final" in name for name in text)
    with pytest.raises(ValueError, match="checkpoint file not found"):
        load_encoder(f"open_clip:qshift-tiny:{tmp_path / 'missing.pt'}", device="cpu")
