"""CLIP tokenizers built offline from open-clip-torch's BPE file."""

from __future__ import annotations

import json
import sys

import pytest

from nodestudio.runtime import tokenizers


def test_vocabulary_is_clips_49408_tokens_in_clips_order():
    vocabulary = tokenizers.build_vocabulary(tokenizers.read_merges())
    assert len(vocabulary) == tokenizers.VOCAB_SIZE
    assert vocabulary["!"] == 0 and vocabulary["!</w>"] == 256
    assert vocabulary["<|startoftext|>"] == 49406 and vocabulary["<|endoftext|>"] == 49407
    assert vocabulary["a</w>"] == 320 and vocabulary["photo</w>"] == 1125


def test_files_are_cached_once_and_never_imports_open_clip(tmp_path, monkeypatch):
    monkeypatch.delitem(sys.modules, "open_clip", raising=False)
    tokenizers.tokenizer_files.cache_clear()
    vocab, merges = tokenizers.tokenizer_files(tmp_path)
    assert json.loads(vocab.read_text())["cat</w>"] == 2368
    assert merges.read_text().splitlines()[0] == "#version: 0.2"
    assert len(merges.read_text().splitlines()) == 1 + tokenizers.MERGE_COUNT
    assert "open_clip" not in sys.modules
    stamp = vocab.stat().st_mtime_ns
    tokenizers.tokenizer_files.cache_clear()
    assert tokenizers.tokenizer_files(tmp_path)[0].stat().st_mtime_ns == stamp
    tokenizers.tokenizer_files.cache_clear()


def test_ids_match_the_published_clip_tokenization():
    tokenizer = tokenizers.clip_tokenizer()
    ids = tokenizer("a photo of an astronaut riding a horse on mars").input_ids
    assert ids == [49406, 320, 1125, 539, 550, 18376, 6765, 320, 4558, 525, 7496, 49407]
    padded = tokenizer("", padding="max_length", max_length=77).input_ids
    assert padded == [49406] + [49407] * 76


def test_open_clip_encoders_pad_with_exclamation_marks():
    tokenizer = tokenizers.clip_tokenizer(pad_token=tokenizers.OPEN_CLIP_PAD_TOKEN,
                                          model_max_length=32)
    assert tokenizer.model_max_length == 32
    ids = tokenizer("a cat", padding="max_length", max_length=8).input_ids
    assert ids == [49406, 320, 2368, 49407, 0, 0, 0, 0]


@pytest.mark.slow
def test_same_ids_as_open_clips_own_tokenizer():
    from open_clip.tokenizer import SimpleTokenizer  # slow to import: this test only

    reference = SimpleTokenizer()
    ours = tokenizers.clip_tokenizer()
    for text in ("Hello, World! 123 <3", "ütf-8 café, naïve résumé", "don't stop; it's 4:30pm",
                 "masterpiece, best quality, 1girl, (detailed:1.2)"):
        got = ours(text).input_ids
        # open_clip pads with 0 after the end token; compare the tokens themselves.
        assert reference(text)[0].tolist()[: len(got)] == got, text
