"""WanVideoApplyNAG (the wrapper's ``nodes.py``, 2025-06-12 on): NAG for WanVideoSampler.

The node adds to the text embeds the NAG prompt — the *positive* prompt embeddings of its
second input (usually the negative output of WanVideoTextEncodeCached, or a text encode of
the negative prompt) — and the parameters; the sampler then guides the cross-attention of
every cond pass with them (:mod:`wfrun.sampling.nag`; the uncond pass is never guided, and
there is no step window). ``inplace`` (2026-01) only picks in-place tensor operations for
the same formula in the pack; the result here is the same either way.

The pack takes the whole list of NAG prompt embeddings and views it as the batch; with
several prompts (``|``) that misreads the tensors, so more than one NAG prompt is refused.
"""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.wanvideo.types import TextEmbeds
from wfrun.sampling.nag import NAGParams, NAGTextEmbeds


@executor("WanVideoApplyNAG")
def wanvideo_apply_nag(ctx: ExecContext, original_text_embeds: Any, nag_text_embeds: Any, nag_scale: Any,
                       nag_tau: Any, nag_alpha: Any, **_: Any) -> tuple:
    for name, value in (("original_text_embeds", original_text_embeds), ("nag_text_embeds", nag_text_embeds)):
        if not isinstance(value, TextEmbeds):
            raise NodeInputError(name, f"expected WANVIDEOTEXTEMBEDS, got {type(value).__name__}",
                                 "connect a WanVideoTextEncode node's text_embeds")
    if not original_text_embeds.prompt_embeds:
        raise NodeInputError("original_text_embeds", "the text embeds hold no prompt")
    prompts = tuple(nag_text_embeds.prompt_embeds)
    if len(prompts) != 1:
        raise NodeInputError("nag_text_embeds", f"{len(prompts)} NAG prompts: NAG takes one",
                             "encode the NAG (negative) prompt on its own, without '|'")
    try:
        params = NAGParams(float(nag_scale), float(nag_tau), float(nag_alpha))
    except (TypeError, ValueError):
        raise NodeInputError("nag_scale", "nag_scale, nag_tau and nag_alpha must be numbers") from None
    if prompts[0].shape[-1] != original_text_embeds.prompt_embeds[0].shape[-1]:
        raise NodeInputError("nag_text_embeds", f"NAG embeddings of width {prompts[0].shape[-1]} do not match the "
                             f"prompt's ({original_text_embeds.prompt_embeds[0].shape[-1]})",
                             "encode both with the same text encoder")
    return (NAGTextEmbeds(original_text_embeds.prompt_embeds, original_text_embeds.negative_prompt_embeds,
                          nag_prompt_embeds=prompts, nag=params),)
