"""design.md's public API contract and the README's command table keep working."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

import qshift
from qshift.cli import main

from toys import ToyDualEncoder, ToyEncoder, toy_batches, toy_dataset, toy_gallery

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_api_names_of_design_md():
    assert callable(qshift.load_encoder) and callable(qshift.load_dataset) and callable(qshift.evaluate)
    assert {"source", "tent", "eata", "sar", "read", "deyo", "shot", "tcr", "tcr-free"} <= set(
        qshift.methods.names()
    )
    for modality, count in (("image", 16), ("text", 16), ("audio", 6), ("video", 18)):
        assert len(qshift.shifts.names(modality)) == count


def test_evaluate_returns_the_metrics_of_the_contract():
    res = qshift.evaluate(ToyDualEncoder.build(), toy_dataset(), direction="i2t", shift="gaussian_noise@5")
    assert set(res.metrics) >= {"r1", "r5", "r10", "r_mean", "map"}
    line = res.to_json()
    contract = "model dataset direction shift method r1 r5 r10 r_mean map uniformity_before"
    contract += " uniformity_after gap_before gap_after queries seconds"
    assert set(line) >= set(contract.split())


def test_the_adapter_core_with_any_encoder():
    encoder, gallery = ToyEncoder(), toy_gallery(40)
    source = [p.detach().clone() for p in encoder.parameters()]
    adapter = qshift.methods.build("tcr", encoder, gallery, steps=2, lr=1e-2)
    for batch in toy_batches([8, 8]):
        scores = adapter(batch)
        assert scores.shape == (8, 40)
    adapter.reset()
    for kept, original in zip(encoder.parameters(), source, strict=True):
        assert torch.equal(kept, original)
    with pytest.raises(ValueError, match="gallery width"):
        qshift.methods.build("tent", encoder, toy_gallery(40, d=5))(toy_batches([4])[0])


def test_shifts_apply_keeps_each_modality_shape():
    image = np.zeros((12, 12, 3), np.uint8)
    assert qshift.shifts.apply("gaussian_noise", image, severity=5, seed=0).shape == image.shape
    assert isinstance(qshift.shifts.apply("ocr", "a red circle on the left", severity=5, seed=0), str)
    wave = np.zeros(800, np.float32)
    assert qshift.shifts.apply("rain", wave, severity=5, seed=0).shape == wave.shape
    clip = np.zeros((4, 12, 12, 3), np.uint8)
    assert qshift.shifts.apply("motion_blur", clip, severity=5, seed=0).shape == clip.shape


def readme_commands() -> list[str]:
    """The sub-commands named in the README's command table."""
    table = README.read_text().split("## Command line", 1)[1].split("\n## ", 1)[0]
    return sorted({m.group(1) for m in re.finditer(r"^\| `qshift (\w[\w-]*)", table, re.MULTILINE)})


def test_the_readme_command_table_is_read():
    assert {"demo", "run", "bench", "shift", "pretrain", "list", "reproduce"} <= set(readme_commands())


@pytest.mark.parametrize("command", readme_commands())
def test_every_readme_command_answers_help(command, capsys):
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    assert "usage: qshift" in capsys.readouterr().out


def test_the_readme_method_example_registers_and_runs():
    section = README.read_text().split("## Extend qshift", 1)[1]
    code = section.split("```python", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    qshift.registry.register("method", "entropy-margin", namespace["EntropyMargin"], "README example")
    try:
        assert "entropy-margin" in qshift.methods.names()
        adapter = qshift.methods.build("entropy-margin", ToyEncoder(), toy_gallery(40), margin=10.0, lr=1e-2)
        before = [p.detach().clone() for p in adapter.params]
        assert adapter(toy_batches([8])[0]).shape == (8, 40)
        assert any(not torch.equal(p, b) for p, b in zip(adapter.params, before, strict=True))
    finally:
        qshift.registry.unregister("method", "entropy-margin")
