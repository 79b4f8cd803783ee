"""Normalized Attention Guidance (NAG, Chen et al. 2025, arXiv 2505.21179) for Wan's
cross-attention, shared by both sampling paths.

NAG guides *inside* each cross-attention of the positive (cond) prediction, which is why it
works where CFG cannot (step-distilled models sampled at cfg 1). The attention output of
the image tokens is computed twice, against the positive prompt (``Z+``) and against the
NAG negative prompt (``Z-``), then, per token over the channels:

1. extrapolation: ``Z~ = s * Z+ - (s - 1) * Z-`` — the paper's ``Z+ + phi (Z+ - Z-)`` with
   ``phi = s - 1``: both packs' ``nag_scale`` is ``s`` (scale 1 guides nothing);
2. L1 normalisation: where ``|Z~|_1 / |Z+|_1`` exceeds ``tau``, ``Z~`` is rescaled to
   ``tau * |Z+|_1 / |Z~|_1 * Z~`` (its L1 norm becomes ``tau * |Z+|_1``);
3. refinement: ``alpha * Z~ + (1 - alpha) * Z+``;

and the result goes through the attention's output projection as usual. The two packs'
implementations agree on these rules (ComfyUI-NAG ``utils.nag``, the wrapper's
``normalized_attention_guidance`` of 2025-06 to 2026-01); they differ only in how a token
whose norms are zero is guarded (a clamp at 1e-6 against ``nan_to_num``/``+1e-7``): here a
zero positive norm with a non-zero guided one rescales that token to zero and 0/0 leaves
it as it is. The norms are summed in float32. The wrapper's ``inplace`` switch only chooses
in-place tensor operations for the same formula, so it changes nothing here.

Which attention is guided: the *text* part. On image-to-video models with CLIP tokens the
image part of the cross-attention is added unguided (the wrapper); ComfyUI-NAG guides it
too, but with the positive's own CLIP tokens on both sides, which leaves it unchanged.
Both packs guide the VACE blocks' cross-attention as well (their VACE blocks receive the
same context); the forward installs the processor on those too. When NAG runs (cond pass
only, which steps) is the caller's business: :class:`NAGGuidance` carries the rule of
each pack.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import torch

from wfrun.sampling.conditioning import TextEmbeds


@dataclass(frozen=True)
class NAGParams:
    """The three numbers of the guidance: ``scale`` (the packs' ``nag_scale``), ``tau``,
    ``alpha``."""

    scale: float
    tau: float
    alpha: float


@dataclass(frozen=True)
class NAGContext:
    """NAG for one transformer call: the NAG negative prompt's embeddings as the model's
    text embedder takes them (``[B or 1, L, text_dim]``) and the parameters."""

    context: torch.Tensor
    params: NAGParams


@dataclass(frozen=True)
class NAGGuidance:
    """NAG for a whole sampling pass of the core KSampler (ComfyUI-NAG): the NAG negative
    CONDITIONING's tensor ``[1, L, text_dim]``, the parameters, and ``sigma_end``: the
    positive prediction is guided while its sigma is at least ``sigma_end``
    (``check_nag_activation``: ``sigma >= nag_sigma_end``)."""

    negative: torch.Tensor
    params: NAGParams
    sigma_end: float = 0.0

    def active(self, sigma: float) -> bool:
        return float(sigma) >= float(self.sigma_end)


@dataclass(frozen=True)
class NAGTextEmbeds(TextEmbeds):
    """WANVIDEOTEXTEMBEDS after WanVideoApplyNAG: the embeds it was given plus the NAG
    prompt (``nag_prompt_embeds``, the other embeds' positive prompt, ``[tokens, 4096]``)
    and the parameters (the pack's ``nag_params``). The sampler guides its cond pass with
    them on every step."""

    nag_prompt_embeds: tuple[torch.Tensor, ...] = ()
    nag: NAGParams | None = None


def nag_combine(positive: torch.Tensor, negative: torch.Tensor, scale: float, tau: float,
                alpha: float) -> torch.Tensor:
    """The guided attention output from ``positive`` (``Z+``) and ``negative`` (``Z-``),
    ``[..., channels]``: extrapolate, L1-normalise per token, blend (module docstring)."""
    guided = positive * scale - negative * (scale - 1.0)
    norm_pos = torch.linalg.vector_norm(positive, ord=1, dim=-1, keepdim=True, dtype=torch.float32)
    norm_guided = torch.linalg.vector_norm(guided, ord=1, dim=-1, keepdim=True, dtype=torch.float32)
    ratio = norm_guided / norm_pos
    factor = torch.where(ratio > tau, tau * norm_pos / norm_guided.clamp_min(torch.finfo(torch.float32).tiny),
                         torch.ones_like(ratio))
    guided = guided * factor.to(guided.dtype)
    return guided * alpha + positive * (1.0 - alpha)


def _key_value(attn: Any, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if getattr(attn, "fused_projections", False):
        key, value = attn.to_kv(context).chunk(2, dim=-1)
    else:
        key, value = attn.to_k(context), attn.to_v(context)
    key = attn.norm_k(key).unflatten(2, (attn.heads, -1))
    return key, value.unflatten(2, (attn.heads, -1))


class NAGCrossAttnProcessor:
    """A cross-attention processor for diffusers' ``WanAttention`` that does what its own
    ``WanAttnProcessor`` does, with the text attention replaced by NAG's combination of the
    positive and the NAG negative context (``negative``: already through the model's text
    embedder). ``image_tokens``: how many leading context tokens are CLIP image tokens
    (attended through ``add_k_proj``/``add_v_proj`` and added unguided)."""

    def __init__(self, base: Any, negative: torch.Tensor, params: NAGParams, image_tokens: int = 0):
        self._attention_backend = getattr(base, "_attention_backend", None)
        self.negative = negative
        self.params = params
        self.image_tokens = int(image_tokens)

    def _attend(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        from diffusers.models.attention_dispatch import dispatch_attention_fn

        out = dispatch_attention_fn(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False,
                                    backend=self._attention_backend)
        return out.flatten(2, 3).type_as(query)

    def __call__(self, attn: Any, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: Any = None, rotary_emb: Any = None) -> torch.Tensor:
        if encoder_hidden_states is None:
            raise ValueError("NAG's processor is for cross-attention only")
        n_img = self.image_tokens if getattr(attn, "add_k_proj", None) is not None or \
            getattr(attn, "to_added_kv", None) is not None else 0
        text = encoder_hidden_states[:, n_img:]
        query = attn.norm_q(attn.to_q(hidden_states)).unflatten(2, (attn.heads, -1))
        negative = self.negative.to(text.device, text.dtype)
        if negative.shape[0] != query.shape[0]:
            negative = negative.expand(query.shape[0], *negative.shape[1:])
        positive = self._attend(query, *_key_value(attn, text))
        guided = nag_combine(positive, self._attend(query, *_key_value(attn, negative)),
                             self.params.scale, self.params.tau, self.params.alpha)
        if n_img:
            image = encoder_hidden_states[:, :n_img]
            if getattr(attn, "fused_projections", False):
                key_img, value_img = attn.to_added_kv(image).chunk(2, dim=-1)
            else:
                key_img, value_img = attn.add_k_proj(image), attn.add_v_proj(image)
            key_img = attn.norm_added_k(key_img).unflatten(2, (attn.heads, -1))
            guided = guided + self._attend(query, key_img, value_img.unflatten(2, (attn.heads, -1)))
        return attn.to_out[1](attn.to_out[0](guided))


@contextlib.contextmanager
def nag_cross_attention(blocks: Iterable[Any], negative: torch.Tensor, params: NAGParams,
                        image_tokens: int = 0) -> Iterator[None]:
    """Every block's cross-attention (``attn2``) runs with NAG inside the ``with``; the
    processors they had are put back after, also when the forward raises."""
    saved = []
    try:
        for block in blocks:
            saved.append((block, block.attn2.processor))
            block.attn2.processor = NAGCrossAttnProcessor(block.attn2.processor, negative, params, image_tokens)
        yield
    finally:
        for block, processor in saved:
            block.attn2.processor = processor


def negative_tensor(conditioning: Any, text_dim: int | None) -> torch.Tensor:
    """The NAG prompt's embeddings ``[1, L, text_dim]``: the first entry's tensor of a
    CONDITIONING (its options are not used, as in both NAG packs). ValueError with the
    user's fix when it is not one, or its width does not fit the model."""
    try:
        tensor = conditioning[0][0]
    except (TypeError, IndexError, KeyError):
        tensor = None
    if not isinstance(tensor, torch.Tensor) or tensor.ndim != 3:
        raise ValueError(f"expected a CONDITIONING (from CLIPTextEncode), got {type(conditioning).__name__}")
    if text_dim is not None and tensor.shape[-1] != int(text_dim):
        raise ValueError(f"text embeddings of width {tensor.shape[-1]} do not fit the model (text width {text_dim}): "
                         "encode the NAG prompt with the model's text encoder")
    return tensor[:1]
