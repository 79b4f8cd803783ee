"""CLIPLoader + CLIPTextEncode for Wan's UMT5-XXL, as ComfyUI encodes it (a SAM 3.1
checkpoint's CLIP is encoded by :func:`wfrun.packs.comfy_core_models.sam3_nodes.encode_text`).

ComfyUI's Wan text encoder (comfy/text_encoders/wan.py) tokenizes without truncation,
pads to at least 512 tokens with the pad id 0, runs the encoder with the attention mask
and zeroes the padded positions (``zero_out_masked``). The CONDITIONING is therefore
``[[tensor[1, max(512, n), dim], {}]]``. WanVideoTextEmbedBridge hands that tensor to the
sampler, where the zero rows act like the pack's own zero padding of the context.
ComfyUI's ``(text:weight)`` token weighting is not applied: the text is encoded as written.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, executor, NodeInputError
from wfrun.models import residency
from wfrun.models.handles import WanTextEncoder
from wfrun.nodes.models import load_umt5, resolve

MIN_LENGTH = 512


@executor("CLIPLoader", background=True)
def clip_loader(ctx: ExecContext, clip_name: str, type: str = "wan", device: str = "default", **_: Any) -> tuple:
    if type != "wan":
        raise NodeInputError("type", f"CLIPLoader type {type!r} is not supported by wfrun", "wfrun runs Wan ('wan')")
    path = resolve(ctx, "text_encoders", clip_name, "clip_name")
    target = ctx.offload_device  # ComfyUI keeps text encoders off the GPU between uses
    encoder, tokenizer = load_umt5(ctx, path, "clip_name", device=target)
    dtype = next(p.dtype for p in encoder.parameters() if p.is_floating_point())
    return (WanTextEncoder(encoder=encoder, tokenizer=tokenizer, dtype=dtype, load_device=ctx.device,
                           offload_device=ctx.offload_device, text_len=MIN_LENGTH, path=path),)


@executor("CLIPTextEncode")
@torch.no_grad()
def clip_text_encode(ctx: ExecContext, text: str, clip: WanTextEncoder, **_: Any) -> tuple:
    from wfrun.packs.comfy_core_models.types import Sam3Clip

    if isinstance(clip, Sam3Clip):  # a SAM 3.1 checkpoint's CLIP (CheckpointLoaderSimple): its own encoding
        from wfrun.packs.comfy_core_models.sam3_nodes import encode_text

        return (encode_text(ctx, clip, text),)
    if not isinstance(clip, WanTextEncoder):
        raise NodeInputError("clip", "expected a CLIP from CLIPLoader or CheckpointLoaderSimple")
    if not isinstance(text, str):
        what = f"a list of {len(text)} values" if isinstance(text, (list, tuple)) else type(text).__name__
        raise NodeInputError("text", f"expected a STRING, got {what} (a captioner run on several frames gives one "
                             "caption per frame)", "feed one text, e.g. caption a single frame")
    ids = clip.tokenizer.encode(text, add_special_tokens=True)
    n = len(ids)
    width = max(MIN_LENGTH, n)
    pad_id = 0
    input_ids = torch.tensor([ids + [pad_id] * (width - n)], dtype=torch.long)
    mask = torch.zeros(1, width, dtype=torch.long)
    mask[0, :n] = 1
    with residency.lent(clip.encoder, ctx.device, clip.offload_device):
        hidden = clip.encoder(input_ids=input_ids.to(ctx.device), attention_mask=mask.to(ctx.device)).last_hidden_state
    hidden = hidden.float() * mask.to(hidden.device).unsqueeze(-1)
    return ([[hidden, {"pooled_output": None}]],)
