"""The demo tokenizer: a real CLIPTokenizer where each caption word is one token."""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import CLIPTokenizer

from nodestudio.demo.world import CAPTION_WORDS
from tools.demo_model import tokenizer as demo_tokenizer


@pytest.fixture(scope="module")
def tokenizer() -> CLIPTokenizer:
    return demo_tokenizer.make_tokenizer()


def test_every_caption_word_is_one_token(tokenizer: CLIPTokenizer) -> None:
    for word in CAPTION_WORDS:
        ids = tokenizer(word).input_ids
        assert ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id
        assert len(ids) == 3, (word, tokenizer.convert_ids_to_tokens(ids))
        assert tokenizer.convert_ids_to_tokens(ids[1]) == word + "</w>"


def test_caption_is_one_token_per_word_padded_to_max_length(tokenizer: CLIPTokenizer) -> None:
    text = "a large red circle at the top left on a white background"
    encoded = tokenizer(text, padding="max_length", max_length=tokenizer.model_max_length)
    assert tokenizer.model_max_length == demo_tokenizer.MODEL_MAX_LENGTH
    assert len(encoded.input_ids) == tokenizer.model_max_length
    assert encoded.input_ids[1 + len(text.split())] == tokenizer.eos_token_id
    assert tokenizer.decode(encoded.input_ids, skip_special_tokens=True) == text


def test_unknown_words_fall_back_to_pieces_not_unknown(tokenizer: CLIPTokenizer) -> None:
    ids = tokenizer("a Zebra!").input_ids
    pieces = tokenizer.convert_ids_to_tokens(ids)
    assert pieces[1] == "a</w>"
    assert "".join(pieces[2:-1]).replace("</w>", "") == "zebra!"
    assert tokenizer.unk_token_id not in ids[1:-1]


def test_merges_are_deterministic() -> None:
    assert demo_tokenizer.train_merges(CAPTION_WORDS) == demo_tokenizer.train_merges(
        CAPTION_WORDS)


def test_saved_tokenizer_loads_back_offline(tmp_path: Path, tokenizer: CLIPTokenizer) -> None:
    demo_tokenizer.save_tokenizer(tmp_path)
    assert {"vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json"} <= {
        path.name for path in tmp_path.iterdir()}
    text = "an orange triangle at the bottom right on a gray background"
    loaded = CLIPTokenizer.from_pretrained(str(tmp_path))
    assert loaded(text).input_ids == tokenizer(text).input_ids
    assert loaded.model_max_length == demo_tokenizer.MODEL_MAX_LENGTH
    # The classic CLIP files alone (no tokenizer.json) give the same ids.
    (tmp_path / "tokenizer.json").unlink()
    classic = CLIPTokenizer.from_pretrained(str(tmp_path))
    assert classic(text).input_ids == tokenizer(text).input_ids
