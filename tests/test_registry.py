"""The one registry: names per kind, lazy loading, dispatch of shifts by item, ``qshift list``."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import qshift
from qshift import registry
from qshift.cli import main


def test_every_kind_lists_its_names_in_order():
    assert len(qshift.shifts.names("image")) == 16 and len(qshift.shifts.names("text")) == 16
    assert qshift.shifts.names("audio") == ["gaussian_noise", "traffic", "crowd", "rain", "thunder", "wind"]
    assert len(qshift.shifts.names("video")) == 18
    assert qshift.methods.names()[:8] == ["source", "tent", "eata", "sar", "read", "deyo", "shot", "tcr"]
    assert {"i2t", "t2i", "cir", "a2v", "v2a", "a2t", "t2a", "v2t", "t2v"} <= set(registry.names("task"))
    assert {"scenes", "hf", "open_clip"} <= set(registry.names("encoder"))
    assert {"scenes-qs-image", "scenes-qs-text", "scenes-qs"} <= set(registry.names("suite"))


def test_apply_dispatches_on_the_item_where_a_name_is_shared():
    image = np.full((16, 16, 3), 128, np.uint8)
    wave = np.zeros(1600, np.float32)
    clip = np.full((3, 16, 16, 3), 128, np.uint8)
    assert qshift.shifts.apply("gaussian_noise", image, 5, seed=0).shape == image.shape
    noisy = qshift.shifts.apply("gaussian_noise", wave, 5, seed=0)
    assert noisy.dtype == np.float32 and noisy.shape == wave.shape and noisy.std() > 0.2
    moved = qshift.shifts.apply("gaussian_noise", clip, 5, seed=0)
    assert moved.shape == clip.shape and np.array_equal(moved[0], moved[2])  # one draw per clip
    assert isinstance(qshift.shifts.apply("ocr", "a red circle on the left", 5, seed=0), str)
    assert qshift.shifts.kind_of("rain") == "audio"
    with pytest.raises(ValueError, match="exists for image, audio, video"):
        qshift.shifts.kind_of("gaussian_noise")
    with pytest.raises(ValueError, match="not for a text item"):
        qshift.shifts.apply("fog", "a caption", 5)
    forced = qshift.shifts.apply("gaussian_noise", image[None].repeat(2, 0), 5, modality="video")
    assert forced.shape == (2, 16, 16, 3)


def test_registry_errors_name_the_kind_and_what_is_available():
    with pytest.raises(ValueError, match="unknown method 'nope'; available: source, tent"):
        registry.get("method", "nope")
    with pytest.raises(ValueError, match="unknown registry kind"):
        registry.names("widget")
    with pytest.raises(ValueError, match="already registered"):
        registry.register("method", "tcr", "qshift.methods.tcr:TCR", "again")
    with pytest.raises(ValueError, match="need a modality"):
        registry.register("shift", "new", "x:y", "a shift without modality")
    with pytest.raises(ValueError, match=r"expected one of: scenes\[:<weights.safetensors>\], hf:<dir"):
        qshift.load_encoder("nope:thing")
    with pytest.raises(ValueError, match=r"expected one of: scenes\[:<split>\], coco:<root>"):
        qshift.load_dataset("nope:thing")


def test_a_registered_object_loads_as_itself_and_unregisters():
    marker = object()
    registry.register("suite", "test-only", marker, "a suite registered by a test")
    try:
        assert registry.load("suite", "test-only") is marker
        assert any("test-only" in line for line in registry.listing())
    finally:
        registry.unregister("suite", "test-only")
    assert "test-only" not in registry.names("suite")


def test_qshift_list_shows_every_kind_from_the_registry(capsys):
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    kinds = {line.split()[0] for line in lines}
    assert kinds == set(registry.KINDS)
    assert any(line.startswith("shift") and "audio:rain" in line for line in lines)
    assert any(line.startswith("encoder") and "hf:<dir-or-hub-id>" in line for line in lines)


def test_qshift_list_imports_no_model_method_or_pretraining_code():
    probe = (
        "import sys; from qshift.cli import main; main(['list']); "
        "print(sorted(m for m in sys.modules if m.startswith(('qshift.scenes', 'qshift.pretrain', "
        "'qshift.methods.', 'qshift.encoders.', 'transformers'))))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"
