"""GLIGEN: grounded phrases (a text and its box) that steer an SD 1.x UNet, as ComfyUI applies them.

**Files** (models/gligen): ComfyUI's pruned GLIGEN files hold ``position_net.*`` (the projection
of a phrase embedding and its box into grounding tokens) and, for each transformer block of the
UNet, ``….transformer_blocks.N.fuser.*`` (a gated self-attention layer) under the original block
names (``input_blocks.1.1…``, ``middle_block.1…``, ``output_blocks.3.1…``; diffusers' own names,
``down_blocks.0.attentions.0…``, are read too). The modules are diffusers' own
``GLIGENTextBoundingboxProjection`` and ``GatedSelfAttentionDense``: the same layers under the same
key names as ComfyUI's ``comfy/gligen.py``, so the weights load as they are. Fusers are matched to
the UNet's transformer blocks in the order the UNet runs them (ComfyUI's ``transformer_index``).

**Sampling** goes through diffusers' code path for GLIGEN UNets: the UNet call gets
``cross_attention_kwargs={"gligen": {"boxes", "positive_embeddings", "masks"}}`` as the GLIGEN
pipeline passes it, the UNet runs ``position_net`` and every BasicTransformerBlock its ``fuser``
after self-attention. The cached UNet has neither: :func:`attached` sets them on its modules as
plain attributes (outside ``_modules``, so not in its state dict) for one UNet call and removes
them afterwards, also when the call fails; other users of the model never see them.

**ComfyUI's semantics**, kept: a phrase's embedding is CLIP's unprojected pooled output of the
phrase (its first chunk, emphasis brackets removed); a box in pixels is floored to whole latent
cells and divided by the latent's size; at most 30 phrases per prompt; the latest GLIGEN model a
prompt was given runs all its phrases; the fusers act on the rows of the prompts that carry
phrases only (ComfyUI runs a negative prompt without phrases without the GLIGEN patch), on every
step of the run.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from nodestudio.api.errors import NodeError
from nodestudio.runtime import devices
from nodestudio.runtime.memory_manager import loaded_to
from nodestudio.runtime.types import Conditioning, TextEncoders

#: Phrases one prompt can carry (GLIGEN's position net was trained on 30 slots).
MAX_PHRASES = 30
_POSITION_PREFIX = "position_net."
_SECTIONS = {"input_blocks": 0, "down_blocks": 0, "middle_block": 1, "mid_block": 1,
             "output_blocks": 2, "up_blocks": 2}
_FUSER_KEY = re.compile(
    r"(input_blocks|middle_block|output_blocks|down_blocks|mid_block|up_blocks)\.(\d+)\."
    r"(?:attentions\.(\d+)\.|(\d+)\.)?transformer_blocks\.(\d+)\.fuser\.(.+)$"
)


class GligenLoadError(NodeError):
    pass


@dataclass(frozen=True, eq=False)
class Gligen:
    """GLIGEN: the position net and one fuser per UNet transformer block, in running order."""

    position_net: torch.nn.Module
    fusers: tuple[torch.nn.Module, ...]
    #: Width of the phrase embeddings it reads (CLIP's hidden size: 768 for SD 1.x).
    phrase_width: int
    #: Width of the grounding tokens it makes (the UNet's cross-attention width).
    token_width: int
    device: torch.device
    source: str = ""

    def modules(self) -> list[torch.nn.Module]:
        return [self.position_net, *self.fusers]

    def describe(self) -> str:
        return f"{len(self.fusers)} fusers, {self.phrase_width}-wide phrases"

    def offload_to_cpu(self) -> None:
        for module in self.modules():
            devices.offload_to_cpu(module)

    on_cache_evict = offload_to_cpu


@dataclass(frozen=True, eq=False)
class GligenPhrase:
    """One grounded phrase of a prompt: its embedding and its box in pixels."""

    model: Gligen
    #: [phrase_width] CLIP's unprojected pooled embedding of the phrase.
    embedding: torch.Tensor
    #: (x, y, width, height) in pixels, as GLIGEN Textbox Apply was given them.
    box: tuple[int, int, int, int]

    def cache_nbytes(self) -> int:
        # The model is counted with the loader's output that holds it.
        return self.embedding.element_size() * self.embedding.nelement()


# -- loading -----------------------------------------------------------------------------------


def _fuser_groups(weights: dict[str, torch.Tensor]) -> list[dict[str, torch.Tensor]]:
    """The fusers' weights, one dict per transformer block, in the order the UNet runs them."""
    groups: dict[tuple[int, int, int, int], dict[str, torch.Tensor]] = {}
    for key, tensor in weights.items():
        found = _FUSER_KEY.search(key)
        if found is None:
            continue
        section, block, attention, inner, transformer, name = found.groups()
        order = (_SECTIONS[section], int(block), int(attention or inner or 0), int(transformer))
        groups.setdefault(order, {})[name] = tensor
    return [groups[order] for order in sorted(groups)]


def _heads(query_width: int, phrase_width: int) -> int:
    """Attention heads of a fuser as loaded, by ComfyUI's rule: 8 for SD 1.x (768-wide
    phrases), else 64-wide heads (8 where 64 does not divide). When attached, a fuser takes
    the heads of the block it joins, as diffusers builds GLIGEN UNets: the same for SD 1.x."""
    if phrase_width != 768 and query_width % 64 == 0:
        return query_width // 64
    return 8


def _build_fuser(weights: dict[str, torch.Tensor], phrase_width: int) -> torch.nn.Module:
    from diffusers.models.attention import GatedSelfAttentionDense

    if "linear.weight" not in weights:
        raise GligenLoadError("a GLIGEN fuser without its linear layer: the file is incomplete")
    query_width = int(weights["linear.weight"].shape[0])
    heads = _heads(query_width, phrase_width)
    fuser = GatedSelfAttentionDense(query_width, phrase_width, heads, query_width // heads)
    fuser.load_state_dict(weights)
    return fuser


def _build_position_net(weights: dict[str, torch.Tensor]) -> torch.nn.Module:
    from diffusers.models.embeddings import GLIGENTextBoundingboxProjection

    phrase_width = int(weights["null_positive_feature"].shape[0])
    token_width = int(weights["linears.4.weight"].shape[0])
    net = GLIGENTextBoundingboxProjection(positive_len=phrase_width, out_dim=token_width,
                                          feature_type="text-only")
    net.load_state_dict(weights)
    return net


def load_gligen(path: Path, device: torch.device | str) -> Gligen:
    """Read a GLIGEN file (see the module docstring) onto ``device``."""
    from nodestudio.runtime.checkpoints import read_state_dict

    try:
        weights, _ = read_state_dict(path, "GLIGEN")
    except NodeError:
        raise
    except (OSError, ValueError, RuntimeError) as error:
        raise GligenLoadError(f"could not read GLIGEN file {path.name}: {error}") from error
    position = {}
    for key, tensor in weights.items():
        head, found, rest = key.partition(_POSITION_PREFIX)
        if found and (not head or head.endswith(".")):
            position[rest] = tensor
    groups = _fuser_groups(weights)
    if "null_positive_feature" not in position or "linears.4.weight" not in position or not groups:
        raise GligenLoadError(
            f"{path.name} is not a GLIGEN model (no position_net and fuser weights): GLIGEN "
            "files are ComfyUI's gligen_sd14_textbox_pruned and alike")
    if "null_text_feature" in position:
        raise GligenLoadError(f"{path.name} is a text-and-image GLIGEN; only the text-box "
                              "GLIGEN (GLIGEN Textbox Apply) is supported")
    target = devices.torch_device(device)
    dtype = devices.compute_dtype(target)
    try:
        net = _build_position_net(position)
        phrase_width = int(position["null_positive_feature"].shape[0])
        fusers = tuple(_build_fuser(group, phrase_width) for group in groups)
    except (RuntimeError, KeyError) as error:
        raise GligenLoadError(f"{path.name}: GLIGEN weights of an unexpected shape: "
                              f"{error}") from error
    for module in (net, *fusers):
        loaded_to(module.to(dtype=dtype), target)
    return Gligen(net, fusers, phrase_width, int(position["linears.4.weight"].shape[0]),
                  target, str(path))


# -- phrases -----------------------------------------------------------------------------------


def _phrase_encoder(clip: TextEncoders, model: Gligen) -> Any:
    for encoder in clip.encoders:
        if int(encoder.model.config.hidden_size) == model.phrase_width:
            return encoder
    widths = ", ".join(str(e.model.config.hidden_size) for e in clip.encoders)
    raise NodeError(f"this GLIGEN model reads {model.phrase_width}-wide CLIP embeddings; this "
                    f"CLIP's are {widths}: use the CLIP of the SD 1.x model GLIGEN was made for")


@torch.inference_mode()
def encode_phrase(clip: TextEncoders, model: Gligen, text: str) -> torch.Tensor:
    """CLIP's unprojected pooled output of ``text`` ([width], on the CPU), as ComfyUI's
    ``encode_from_tokens(…, return_pooled="unprojected")``: the final-layer-normed state at
    the end token of the first chunk, emphasis brackets removed (their weights do not act on
    a pooled output)."""
    from nodestudio.runtime import lora
    from nodestudio.runtime.prompt_weights import parse_weighted_prompt

    encoder = _phrase_encoder(clip, model)
    tokenizer = encoder.tokenizer
    ids: list[int] = []
    for segment, _weight in parse_weighted_prompt(text):
        if segment:
            # (cut to the encoder's length below: the tokenizer need not warn about it)
            ids.extend(tokenizer(segment, add_special_tokens=False, verbose=False).input_ids)
    body = ids[: tokenizer.model_max_length - 2]
    padding = tokenizer.model_max_length - len(body) - 2
    row = [tokenizer.bos_token_id, *body, tokenizer.eos_token_id]
    row += [tokenizer.pad_token_id] * padding
    text_model = devices.ensure_on(encoder.model, clip.device)
    with lora.applied(text_model, clip.loras):
        output = text_model(torch.tensor([row], device=clip.device))
    pooled = getattr(output, "pooler_output", None)  # CLIPTextModel's, before any projection
    if pooled is None:
        raise NodeError("GLIGEN needs the CLIP-L text encoder of an SD 1.x model")
    return pooled[0].float().cpu()


def add_phrase(conditioning: Conditioning, clip: TextEncoders, model: Gligen, text: str,
               box: tuple[int, int, int, int]) -> Conditioning:
    """``conditioning`` with the phrase ``text`` grounded in ``box`` (x, y, width, height in
    pixels) appended to each of its prompts (ComfyUI's GLIGENTextBoxApply)."""
    from nodestudio.runtime.families.unet import UNetFamily

    if clip.family is not None and not isinstance(clip.family, UNetFamily):
        raise NodeError(f"GLIGEN is made for SD 1.x UNets; this CLIP is {clip.family.label}'s")
    phrase = GligenPhrase(model, encode_phrase(clip, model, text), box)

    def grounded(entry: Conditioning) -> Conditioning:
        if len(entry.gligen) >= MAX_PHRASES:
            raise NodeError(f"GLIGEN takes at most {MAX_PHRASES} phrases per prompt")
        return replace(entry, gligen=(*entry.gligen, phrase))

    mapper = getattr(conditioning, "map_entries", None)
    return mapper(grounded) if callable(mapper) else grounded(conditioning)


# -- sampling ----------------------------------------------------------------------------------


def transformer_blocks(unet: torch.nn.Module) -> list[torch.nn.Module]:
    """The UNet's BasicTransformerBlocks in the order a forward pass runs them (down, mid, up;
    the module tree registers the up blocks before the mid block)."""
    from diffusers.models.attention import BasicTransformerBlock

    parts = [*getattr(unet, "down_blocks", []), getattr(unet, "mid_block", None),
             *getattr(unet, "up_blocks", [])]
    return [module for part in parts if part is not None for module in part.modules()
            if isinstance(module, BasicTransformerBlock)]


class _RowsFuser:
    """A fuser that acts on some rows of the batch only (the prompts that carry phrases)."""

    def __init__(self, fuser: torch.nn.Module, rows: torch.Tensor | None) -> None:
        self.fuser, self.rows = fuser, rows

    def __call__(self, hidden: torch.Tensor, objects: torch.Tensor) -> torch.Tensor:
        if self.rows is None:
            return self.fuser(hidden, objects)
        fused = hidden.clone()
        fused[self.rows] = self.fuser(hidden[self.rows], objects[self.rows])
        return fused


@dataclass(frozen=True, eq=False)
class GligenRun:
    """GLIGEN prepared for one Sampler run: the UNet's keyword arguments and what to attach."""

    model: Gligen
    #: ``cross_attention_kwargs["gligen"]`` for every UNet call.
    arguments: dict[str, torch.Tensor]
    #: Batch rows the fusers act on; None = all of them.
    rows: torch.Tensor | None


def _halves(positive: Conditioning, negative: Conditioning | None) -> list[tuple[Any, ...]]:
    """Each half's phrases in the batch's order (the negative half first, as the UNet's)."""
    if negative is None:
        return [tuple(positive.gligen)]
    return [tuple(negative.gligen), tuple(positive.gligen)]


def _check_fits(model: Gligen, unet: torch.nn.Module) -> list[torch.nn.Module]:
    blocks = transformer_blocks(unet)
    widths = [int(block.norm1.normalized_shape[0]) for block in blocks]
    fuser_widths = [int(fuser.linear.out_features) for fuser in model.fusers]
    cross_width = unet.config.cross_attention_dim
    if widths != fuser_widths or model.token_width != cross_width:
        raise NodeError(
            f"this GLIGEN model ({len(fuser_widths)} fusers, {model.token_width}-wide tokens) "
            f"was made for another UNet (this one has {len(widths)} transformer blocks, "
            f"{cross_width}-wide cross-attention): use the GLIGEN of its SD version")
    return blocks


def prepare(unet: torch.nn.Module, positive: Conditioning, negative: Conditioning | None,
            batch: int, latent_size: tuple[int, int], scale_factor: int,
            device: torch.device, dtype: torch.dtype) -> GligenRun | None:
    """GLIGEN for a run of ``batch`` images ([negative, positive] halves when ``negative`` is
    given); None when neither prompt has phrases."""
    halves = _halves(positive, negative)
    phrased = [phrases for phrases in halves if phrases]
    if not phrased:
        return None
    models = {id(phrases[-1].model): phrases[-1].model for phrases in phrased}
    if len(models) > 1:
        raise NodeError("the positive and negative prompts carry phrases of two different "
                        "GLIGEN models: apply one GLIGEN model to both")
    model = next(iter(models.values()))
    _check_fits(model, unet)
    rows, columns = latent_size
    boxes = torch.zeros(len(halves) * batch, MAX_PHRASES, 4)
    masks = torch.zeros(len(halves) * batch, MAX_PHRASES)
    embeddings = torch.zeros(len(halves) * batch, MAX_PHRASES, model.phrase_width)
    active = torch.zeros(len(halves) * batch, dtype=torch.bool)
    for half, phrases in enumerate(halves):
        span = slice(half * batch, (half + 1) * batch)
        active[span] = bool(phrases)
        for slot, phrase in enumerate(phrases):
            x, y, width, height = (value // scale_factor for value in phrase.box)
            boxes[span, slot] = torch.tensor([x / columns, y / rows, (x + width) / columns,
                                              (y + height) / rows])
            masks[span, slot] = 1.0
            embeddings[span, slot] = phrase.embedding
    arguments = {"boxes": boxes, "masks": masks, "positive_embeddings": embeddings}
    arguments = {name: value.to(device=device, dtype=dtype) for name, value in arguments.items()}
    return GligenRun(model, arguments, None if bool(active.all()) else active.to(device))


@contextmanager
def attached(unet: torch.nn.Module, run: GligenRun) -> Iterator[None]:
    """While inside, the UNet has ``run``'s position net and fusers (see the module docstring)."""
    blocks = _check_fits(run.model, unet)
    dtype, device = devices.module_dtype(unet), devices.module_device(unet)
    for module in run.model.modules():
        if devices.module_device(module) != device or devices.module_dtype(module) != dtype:
            module.to(device=device, dtype=dtype)
    touched: list[torch.nn.Module] = []
    try:
        # Plain instance attributes: found before nn.Module's registry, never registered in it.
        unet.__dict__["position_net"] = run.model.position_net
        touched.append(unet)
        for block, fuser in zip(blocks, run.model.fusers, strict=True):
            fuser.attn.heads = block.attn1.heads  # only how the same weights split into heads
            block.__dict__["fuser"] = _RowsFuser(fuser, run.rows)
            touched.append(block)
        yield
    finally:
        _detach(touched)


def _detach(modules: Sequence[torch.nn.Module]) -> None:
    for module in modules:
        module.__dict__.pop("position_net", None)
        module.__dict__.pop("fuser", None)
