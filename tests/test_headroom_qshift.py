"""The qshift method: TCR plus the alignment term plus the training-free corrections, each a part."""

from __future__ import annotations

import copy

import pytest
import torch

import qshift.methods as methods
from qshift.methods.qbnorm import QBNormTransform
from qshift.methods.recenter import RecenterTransform
from qshift.methods.source_stats import collect_source_stats

from toys import ToyEncoder, toy_batches, toy_gallery


def _stream(n: int = 6, seed: int = 3) -> list[torch.Tensor]:
    scale = torch.linspace(0.3, 2.5, 12)
    return [x * scale + 0.5 for x in toy_batches([32] * n, seed=seed)]


def test_without_alignment_and_corrections_it_is_tcr():
    encoder, gallery = ToyEncoder(), toy_gallery(30)
    tcr = methods.build("tcr", copy.deepcopy(encoder), gallery, lr=1e-2)
    ours = methods.build("qshift", copy.deepcopy(encoder), gallery, lr=1e-2, align_weight=0.0, post=None)
    for x in _stream():
        assert torch.allclose(tcr(x), ours(x), atol=1e-6)
    for a, b in zip(tcr.params, ours.params, strict=True):
        assert torch.allclose(a, b, atol=1e-6)


def test_the_alignment_term_is_added_to_tcrs_loss():
    encoder, gallery = ToyEncoder(), toy_gallery(30)
    stats = collect_source_stats(encoder, toy_batches([128, 128], seed=5))
    x = _stream(1)[0]
    losses = {}
    for weight in (0.0, 2.0):
        adapter = methods.build("qshift", copy.deepcopy(encoder), gallery, stats=stats, align_weight=weight)
        if weight:
            with adapter.alignment.capture(x):
                z = adapter.embed(x)
            alignment = float(adapter.alignment.loss().detach())
        else:
            z = adapter.embed(x)
        losses[weight] = float(adapter.objective(z, x, 0)[0].detach())
    assert alignment > 0.05
    assert losses[2.0] - losses[0.0] == pytest.approx(2.0 * alignment, rel=1e-4)


def test_default_corrections_are_recentering_then_qbnorm_at_beta_10():
    encoder = ToyEncoder()
    stats = collect_source_stats(encoder, toy_batches([64], seed=5))
    adapter = methods.build("qshift", encoder, toy_gallery(30), stats=stats)
    assert [type(t) for t in adapter.post] == [RecenterTransform, QBNormTransform]
    assert adapter.post[1].bank.beta == 10.0


def test_a_negative_alignment_weight_is_refused():
    with pytest.raises(ValueError, match="align_weight"):
        methods.build("qshift", ToyEncoder(), toy_gallery(30), align_weight=-1.0)


def test_scenes_gives_each_method_its_val_lr_and_the_shipped_statistics():
    from qshift.api import default_hparams
    from qshift.data import load_dataset
    from qshift.encoders import load_encoder
    from qshift.scenes.model import SCENES_I2T_LR, SCENES_I2T_LRS, SCENES_T2I_HPARAMS

    encoder, dataset = load_encoder("scenes"), load_dataset("scenes:val")
    for method in ("tent", "eata", "tcr", "qshift", "align"):
        hparams = default_hparams(encoder, dataset, method, "i2t")
        assert hparams["lr"] == SCENES_I2T_LRS[method]
    assert default_hparams(encoder, dataset, "tcr-free", "i2t").get("lr", SCENES_I2T_LR) == SCENES_I2T_LR
    assert default_hparams(encoder, dataset, "tcr", "t2i")["lr"] == SCENES_T2I_HPARAMS["tcr"]["lr"]
    captions = default_hparams(encoder, dataset, "qshift", "t2i")
    assert captions["align_weight"] == 0.0 and captions["lr"] == SCENES_T2I_HPARAMS["qshift"]["lr"]
    assert default_hparams(encoder, dataset, "tent", "t2i")["lr"] == SCENES_T2I_HPARAMS["tent"]["lr"] == 3e-5
    assert "lr" not in default_hparams(encoder, dataset, "tcr-free", "t2i")  # not on the grid
    post = default_hparams(encoder, dataset, "qshift", "i2t")["post"]
    assert post[-1] == ["smooth", {"k": 4, "alpha": 0.5}]  # five captions per image vote together
    assert "post" not in captions  # an image gallery has one item per target: no smoothing
    for task in ("i2t", "t2i"):
        stats = default_hparams(encoder, dataset, "qshift", task)["stats"]
        assert stats.endswith(f"scenes_source.stats-{task}.safetensors")


def test_corrected_candidates_read_the_post_corrected_nearest_item_without_moving_the_stream():
    encoder, gallery = ToyEncoder(), toy_gallery(30)
    stats = collect_source_stats(encoder, toy_batches([128], seed=5))
    adapter = methods.build("qshift", encoder, gallery, stats=stats, corrected_candidates=True)
    stream = _stream(3)
    for x in stream[:2]:
        adapter(x)
    z = adapter.embed(stream[2]).detach()
    before = copy.deepcopy([t.state() for t in adapter.post])
    expected_post = copy.deepcopy(adapter.post)
    bank = adapter.gallery
    corrected, _ = expected_post[0](z, bank)
    _, rescored = expected_post[1](corrected, bank)
    expected = bank.rows(rescored.argmax(dim=1))
    got = adapter.virtual_batch(z).c
    assert torch.equal(got, expected)
    # the raw nearest items differ for some queries: the option changes the pseudo-targets
    assert not torch.equal(got, bank.rows(bank.scores(z).argmax(dim=1)))
    after = [t.state() for t in adapter.post]
    assert torch.equal(before[0]["mean"], after[0]["mean"]) and before[0]["count"] == after[0]["count"]
    assert torch.equal(before[1]["log_norm"], after[1]["log_norm"])


def test_rescore_records_the_batch_under_the_weights_it_adapted():
    encoder, gallery = ToyEncoder(), toy_gallery(30)
    x = _stream(1)[0]
    plain = methods.build("qshift", copy.deepcopy(encoder), gallery, lr=1e-2, align_weight=0.0, post=None)
    again = methods.build(
        "qshift", copy.deepcopy(encoder), gallery, lr=1e-2, align_weight=0.0, post=None, rescore=True
    )
    plain_scores, again_scores = plain(x), again(x)
    for a, b in zip(plain.params, again.params, strict=True):
        assert torch.allclose(a, b, atol=1e-6)  # the same updates
    assert not torch.allclose(plain_scores, again_scores)
    assert torch.allclose(again_scores, plain.score(x), atol=1e-6)  # = the adapted weights' scores
