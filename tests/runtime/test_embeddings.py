"""Textual inversion embeddings in prompts (``embedding:name``): file formats, where the vectors
go, weighting and chunks, SDXL's two encoders, missing and misfit files, and caching.

The expected hidden states never go through NodeStudio's insertion: a copy of the text encoder
gets the embedding's vectors as rows of its token embedding table, and is called with those
rows' ids — the same as calling it with input embeddings built by hand.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file

from nodestudio.api.errors import NodeError
from nodestudio.app.models import ModelLibrary
from nodestudio.engine.cancel import CancelToken
from nodestudio.engine.context import RunContext, RunEnvironment
from nodestudio.runtime.checkpoints import load_checkpoint
from nodestudio.runtime.prompt_weights import (
    embedding_references,
    remove_embedding_references,
)
from nodestudio.runtime.text_encoding import encode_prompt
from nodestudio.runtime.types import TextEncoder, TextEncoders

#: Token ids whose rows the reference copies overwrite: rare tokens no test prompt uses.
_FREE_IDS = range(49300, 49400)

Piece = str | torch.Tensor


@pytest.fixture(scope="module")
def sdxl(tiny_models):
    return load_checkpoint(tiny_models.checkpoint(tiny_models.sdxl_folder), "cpu")


@pytest.fixture
def sd_clip(sd_checkpoint) -> TextEncoders:
    return sd_checkpoint[1]


@pytest.fixture
def root(tmp_path) -> Path:
    """A models root with an empty embeddings folder."""
    (tmp_path / "models" / "embeddings").mkdir(parents=True)
    return tmp_path / "models"


def _context(root: Path) -> RunContext:
    environment = RunEnvironment(device="cpu", models=ModelLibrary([root], include_demo=False))
    return RunContext("encode", environment, CancelToken(), lambda event: None, "run-1", None)


@pytest.fixture
def encode(run_node, root):
    """Text Encode as a run calls it, with ``root``'s models/embeddings."""

    def run(clip: TextEncoders, text: str, **values: Any) -> Any:
        return run_node("diffusion.text_encode", clip=clip, text=text, ctx=_context(root),
                        **values)

    return run


def _vectors(count: int, width: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(count, width, generator=generator) * 0.02


def _write(root: Path, file_name: str, content: Any) -> Path:
    """An embedding file in ``root``/embeddings: safetensors by its suffix, else torch.save."""
    path = root / "embeddings" / file_name
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        save_file({key: value.contiguous() for key, value in content.items()}, str(path))
    else:
        torch.save(content, str(path))
    return path


def _reference(encoder: TextEncoder, pieces: Sequence[Piece], length: int | None = None,
               clip_skip: int = 0) -> tuple[torch.Tensor, torch.Tensor | None]:
    """[1, length, width] hidden states (and the pooled embedding) of one chunk
    ``[start] pieces [end] [pad …]``: text pieces tokenized, vector pieces as input embeddings."""
    tokenizer = encoder.tokenizer
    length = length or tokenizer.model_max_length
    model = copy.deepcopy(encoder.model)
    table = model.get_input_embeddings().weight
    free = iter(_FREE_IDS)
    ids = [tokenizer.bos_token_id]
    with torch.no_grad():
        for piece in pieces:
            if isinstance(piece, str):
                text_ids = tokenizer(piece, add_special_tokens=False).input_ids
                assert not set(text_ids) & set(_FREE_IDS)
                ids += text_ids
                continue
            for vector in piece:
                row = next(free)
                table[row] = vector
                ids.append(row)
    ids += [tokenizer.eos_token_id] + [tokenizer.pad_token_id] * (length - len(ids) - 1)
    with torch.inference_mode():
        output = model(torch.tensor([ids]), output_hidden_states=True)
        if encoder.penultimate:
            hidden = output.hidden_states[-(clip_skip + 2)]
        elif clip_skip:
            hidden = model.final_layer_norm(output.hidden_states[-(clip_skip + 1)])
        else:
            hidden = output[0]
    return hidden, (output[0] if encoder.pooled else None)


def _weighted(hidden: torch.Tensor, weights: Sequence[float]) -> torch.Tensor:
    """A1111's emphasis on one chunk: scale each position, then restore the mean."""
    scale = torch.tensor(list(weights) + [1.0] * (hidden.shape[1] - len(weights)))
    weighted = hidden * scale[None, :, None]
    return weighted * (hidden.mean() / weighted.mean())


def _exact(got: torch.Tensor, expected: torch.Tensor) -> None:
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


# -- file formats ---------------------------------------------------------------------------


def _a1111_pt(vectors: torch.Tensor) -> dict[str, Any]:
    return {"string_to_token": {"*": 265},
            "string_to_param": {"*": torch.nn.Parameter(vectors.clone())},
            "name": "style", "step": 3000, "sd_checkpoint": None, "sd_checkpoint_name": None}


FORMATS = {
    "a1111.pt": lambda vectors: _a1111_pt(vectors),
    "a1111.safetensors": lambda vectors: {"emb_params": vectors},
    "diffusers.bin": lambda vectors: {"<style>": vectors[0] if len(vectors) == 1 else vectors},
    "diffusers.safetensors": lambda vectors: {"<style>": vectors[0] if len(vectors) == 1
                                              else vectors},
}


@pytest.mark.parametrize("count", [1, 3])
@pytest.mark.parametrize("file_format", sorted(FORMATS))
def test_an_embeddings_vectors_take_token_positions(encode, root, sd_clip, file_format, count):
    kind, suffix = file_format.split(".")
    vectors = _vectors(count, 32, seed=count)
    _write(root, f"style-{kind}.{suffix}", FORMATS[file_format](vectors))
    got = encode(sd_clip, f"a photo of embedding:style-{kind} cat")
    expected, _ = _reference(sd_clip.encoders[0], ["a photo of", vectors, "cat"])
    _exact(got.embeds, expected)
    # The name may carry its extension; the prompt's words differ from the plain prompt's.
    _exact(encode(sd_clip, f"a photo of embedding:style-{kind}.{suffix} cat").embeds, expected)
    assert not torch.equal(got.embeds, encode(sd_clip, "a photo of cat").embeds)


def test_diffusers_folders_and_names_in_sub_folders(encode, root, sd_clip):
    vectors = _vectors(2, 32, seed=5)
    _write(root, "concepts/learned_embeds.safetensors", {"<concept>": vectors})
    _write(root, "styles/ink.pt", _a1111_pt(vectors))
    expected, _ = _reference(sd_clip.encoders[0], ["a", vectors, "cat"])
    _exact(encode(sd_clip, "a embedding:concepts cat").embeds, expected)
    _exact(encode(sd_clip, "a embedding:styles/ink cat").embeds, expected)


def test_several_embeddings_commas_and_the_clip_skip(encode, root, sd_clip):
    first, second = _vectors(2, 32, seed=1), _vectors(3, 32, seed=2)
    _write(root, "first.safetensors", {"emb_params": first})
    _write(root, "second.pt", _a1111_pt(second))
    got = encode(sd_clip, "embedding:first, a cat, embedding:second", clip_skip=1)
    expected, _ = _reference(sd_clip.encoders[0], [first, ", a cat,", second], clip_skip=1)
    _exact(got.embeds, expected)


def test_weighting_applies_to_embeddings_like_words(encode, root, sd_clip):
    vectors = _vectors(2, 32, seed=3)
    _write(root, "style.safetensors", {"emb_params": vectors})
    hidden, _ = _reference(sd_clip.encoders[0], ["a", vectors, "cat"])
    # [start] a v0 v1 cat [end]: the embedding's two positions weigh 1.3.
    expected = _weighted(hidden, [1.0, 1.0, 1.3, 1.3, 1.0, 1.0])
    got = encode(sd_clip, "a (embedding:style:1.3) cat")
    torch.testing.assert_close(got.embeds, expected, rtol=1e-6, atol=1e-6)
    both = encode(sd_clip, "a (embedding:style cat:1.3)")
    expected = _weighted(hidden, [1.0, 1.0, 1.3, 1.3, 1.3, 1.0])
    torch.testing.assert_close(both.embeds, expected, rtol=1e-6, atol=1e-6)


def _with_max_length(clip: TextEncoders, length: int) -> TextEncoders:
    encoders = []
    for encoder in clip.encoders:
        tokenizer = copy.copy(encoder.tokenizer)
        tokenizer.model_max_length = length
        encoders.append(dataclasses.replace(encoder, tokenizer=tokenizer))
    return dataclasses.replace(clip, encoders=tuple(encoders))


def test_embedding_vectors_count_toward_chunks(encode, root, sd_clip):
    short = _with_max_length(sd_clip, 12)  # 10 prompt positions per chunk
    vectors = _vectors(4, 32, seed=4)
    _write(root, "style.safetensors", {"emb_params": vectors})
    got = encode(short, " ".join(["red"] * 8) + " embedding:style blue")
    assert got.embeds.shape == (1, 24, 32)
    # 8 words and 2 vectors fill the first chunk; the other 2 vectors start the second.
    first, _ = _reference(short.encoders[0], [" ".join(["red"] * 8), vectors[:2]], 12)
    second, _ = _reference(short.encoders[0], [vectors[2:], "blue"], 12)
    _exact(got.embeds[:, :12], first)
    _exact(got.embeds[:, 12:], second)


# -- SDXL -----------------------------------------------------------------------------------


def test_sdxl_embeddings_give_each_encoder_its_own_vectors(encode, root, sdxl):
    clip_l, clip_g = _vectors(2, 32, seed=6), _vectors(2, 64, seed=7)
    _write(root, "xl-style.safetensors", {"clip_l": clip_l, "clip_g": clip_g})
    got = encode(sdxl.clip, "a embedding:xl-style cat")
    first, _ = _reference(sdxl.clip.encoders[0], ["a", clip_l, "cat"])
    second, pooled = _reference(sdxl.clip.encoders[1], ["a", clip_g, "cat"])
    _exact(got.embeds, torch.cat([first, second], dim=-1))
    _exact(got.pooled, pooled)


def test_an_sd1_embedding_on_sdxl_reaches_only_clip_l(encode, root, sdxl, caplog):
    vectors = _vectors(1, 32, seed=8)
    _write(root, "sd15.pt", _a1111_pt(vectors))
    with caplog.at_level(logging.WARNING):
        got = encode(sdxl.clip, "a embedding:sd15 cat")
    first, _ = _reference(sdxl.clip.encoders[0], ["a", vectors, "cat"])
    plain = encode(sdxl.clip, "a cat")
    _exact(got.embeds[..., :32], first)
    _exact(got.embeds[..., 32:], plain.embeds[..., 32:])
    _exact(got.pooled, plain.pooled)
    assert "sd15.pt" in caplog.text and "clip_g" in caplog.text


def test_an_sdxl_embedding_on_sd1_takes_its_clip_l_vectors(encode, root, sd_clip):
    clip_l, clip_g = _vectors(2, 32, seed=9), _vectors(2, 64, seed=10)
    _write(root, "xl.safetensors", {"clip_g": clip_g, "clip_l": clip_l})
    expected, _ = _reference(sd_clip.encoders[0], ["a", clip_l, "cat"])
    _exact(encode(sd_clip, "a embedding:xl cat").embeds, expected)


# -- what goes wrong --------------------------------------------------------------------------


def test_a_missing_embedding_warns_and_is_left_out(encode, root, sd_clip, caplog):
    with caplog.at_level(logging.WARNING):
        got = encode(sd_clip, "a embedding:nowhere cat")
    _exact(got.embeds, encode(sd_clip, "a cat").embeds)
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "'nowhere'" in warnings[0].getMessage()
    assert str(root / "embeddings") in warnings[0].getMessage()
    # As ComfyUI: commas after the name stay in the prompt.
    with caplog.at_level(logging.WARNING):
        _exact(encode(sd_clip, "a embedding:nowhere, cat").embeds,
               encode(sd_clip, "a, cat").embeds)


def test_an_embedding_too_wide_for_every_encoder_is_an_error(encode, root, sd_clip, sdxl):
    _write(root, "sd2-style.safetensors", {"emb_params": _vectors(1, 48, seed=11)})
    with pytest.raises(NodeError, match=r"sd2-style\.safetensors has 48-wide .*\(clip_l 32\)"):
        encode(sd_clip, "a embedding:sd2-style cat")
    with pytest.raises(NodeError, match=r"48-wide .*\(clip_l 32, clip_g 64\)"):
        encode(sdxl.clip, "a embedding:sd2-style cat")


def test_unreadable_files_are_errors_naming_them(encode, root, sd_clip):
    (root / "embeddings" / "broken.pt").write_bytes(b"not a pickle")
    with pytest.raises(NodeError, match=r"broken\.pt"):
        encode(sd_clip, "embedding:broken")
    _write(root, "empty.safetensors", {})
    with pytest.raises(NodeError, match=r"empty\.safetensors holds no vectors"):
        encode(sd_clip, "embedding:empty")


def test_prompts_without_embeddings_encode_exactly_as_before(encode, root, sd_clip, sdxl):
    _write(root, "style.safetensors", {"emb_params": _vectors(1, 32, seed=12)})
    for clip in (sd_clip, sdxl.clip):
        for text in ("a cat on a sofa", "a (red:1.4) [cat]", "embedding cat: style"):
            plain = encode_prompt(clip, text)
            got = encode(clip, text)
            _exact(got.embeds, plain.embeds)
            if plain.pooled is not None:
                _exact(got.pooled, plain.pooled)
    # Without a resolver (the runtime called directly) the words are text, as before.
    words = encode_prompt(sd_clip, "a embedding:style cat")
    assert words.embeds.shape == (1, 77, 32)
    assert not torch.equal(words.embeds, encode(sd_clip, "a embedding:style cat").embeds)


def test_prompt_syntax_finds_the_references():
    assert embedding_references("embedding:a, (embedding:b.pt:1.2) x embedding:c,") == \
        ["a,", "b.pt", "c,"]
    assert embedding_references("an embedding: x, noembedding:y") == []
    assert remove_embedding_references("(embedding:a:1.2) cat, embedding:b") == "(:1.2) cat, "


def test_families_that_do_not_apply_embeddings_warn_and_leave_them_out(
        encode, root, tiny_dit_models, caplog):
    # SD3 (and Flux) encode with their own CLIP/T5 code, which does not take embeddings yet:
    # the prompt is read without them, as ComfyUI reads it in the encoders they do not fit.
    _write(root, "style.safetensors", {"emb_params": _vectors(1, 32, seed=15)})
    clip = load_checkpoint(tiny_dit_models.checkpoint(tiny_dit_models.sd3_folder), "cpu").clip
    with caplog.at_level(logging.WARNING):
        got = encode(clip, "a (embedding:style:1.2) cat")
    assert "do not apply textual inversion embeddings" in caplog.text
    assert "embedding:style" in caplog.text
    expected = encode(clip, "a (:1.2) cat")
    _exact(got.embeds, expected.embeds)
    _exact(got.pooled, expected.pooled)


# -- caching --------------------------------------------------------------------------------


def test_editing_an_embedding_reruns_only_its_text_encode(tiny_models, root, tmp_path):
    import nodestudio
    from nodestudio.app.packs import create_registry
    from nodestudio.app.settings import Settings
    from nodestudio.graph.model import Graph

    path = _write(root, "style.safetensors", {"emb_params": _vectors(2, 32, seed=13)})
    session = nodestudio.Session(device="cpu", models_dir=[tiny_models.root, root],
                                 output_dir=tmp_path / "output", input_dir=tmp_path / "input",
                                 registry=create_registry(entry_points=False),
                                 settings=Settings())
    graph = Graph()
    graph.add_node("diffusion.load_checkpoint", {"checkpoint": tiny_models.sd_folder},
                   id="checkpoint")
    graph.add_node("diffusion.text_encode", {"text": "a embedding:style cat"}, id="styled")
    graph.add_node("diffusion.text_encode", {"text": "a cat"}, id="plain")
    for prompt in ("styled", "plain"):
        graph.connect("checkpoint", "clip", prompt, "clip")
    outputs = ["styled", "plain"]

    first = session.run(graph, outputs=outputs)
    assert {"checkpoint", "styled", "plain"} <= set(first.executed)
    assert session.run(graph, outputs=outputs).executed == []

    _write(root, "style.safetensors", {"emb_params": _vectors(2, 32, seed=14)})
    status = path.stat()
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns + 1_000_000_000))
    edited = session.run(graph, outputs=outputs)
    assert edited.executed == ["styled"]
    assert not torch.equal(edited.outputs["styled"]["conditioning"].embeds,
                           first.outputs["styled"]["conditioning"].embeds)

    path.unlink()  # gone: encoded again, without it
    assert session.run(graph, outputs=outputs).executed == ["styled"]
