"""Text encoding nodes: LoadWanVideoT5TextEncoder, WanVideoTextEncode, WanVideoTextEmbedBridge.

Faithful to the pack's ``T5EncoderModel`` (wanvideo/modules/t5.py): prompts are cleaned
(HTML entities unescaped, whitespace collapsed), tokenized to 512 tokens with padding and
truncation, encoded with the attention mask, and each embedding is cut to its real token
count. Prompts split on ``|`` give one embedding each (spread over the video by the
sampler); ``(text:weight)`` multiplies that prompt's whole embedding by ``weight``, as the
pack does. Differences: the pack also runs ``ftfy.fix_text`` (not a dependency here; it
only changes mis-encoded text), and its disk cache is pickled ``torch.save`` files —
wfrun caches in safetensors files instead, keyed by prompt *and* encoder file, under
``~/.cache/wfrun/text_embeds``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import os
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, executor, NodeInputError
from wfrun.models import placement, residency
from wfrun.nodes.models import load_umt5, resolve
from wfrun.packs.wanvideo.types import TextEmbeds, WanTextEncoder, WanVideoModel

T5_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
TEXT_LEN = 512
_WEIGHT = re.compile(r"\((.*?):([\d\.]+)\)")


@executor("LoadWanVideoT5TextEncoder", background=True)
def load_t5(ctx: ExecContext, model_name: str, precision: str, load_device: str,
            quantization: str, **_: Any) -> tuple:
    path = resolve(ctx, "text_encoders", model_name, "model_name")
    dtype = T5_DTYPES.get(precision)
    if dtype is None:
        raise NodeInputError("precision", f"unknown precision {precision!r}", "use fp32 or bf16")
    device = placement.node_device(load_device, ctx)
    encoder, tokenizer = load_umt5(ctx, path, "model_name", dtype=dtype, device=device,
                                   quantization="fp8_e4m3fn" if quantization == "fp8_e4m3fn" else "auto")
    return (WanTextEncoder(encoder=encoder, tokenizer=tokenizer, dtype=dtype, load_device=device,
                           offload_device=ctx.offload_device, text_len=TEXT_LEN, path=path),)


def clean_prompt(text: str) -> str:
    """The pack's 'whitespace' cleaning: HTML entities unescaped, whitespace collapsed."""
    text = html.unescape(html.unescape(text)).strip()
    return re.sub(r"\s+", " ", text).strip()


def parse_prompt_weights(prompt: str) -> tuple[str, dict[str, float]]:
    """``(text:1.2)`` → ``text`` and {text: 1.2}, as the pack's ``parse_prompt_weights``."""
    weights = {text: float(w) for text, w in _WEIGHT.findall(prompt)}
    cleaned = _WEIGHT.sub(lambda m: m.group(1), prompt)
    return cleaned, weights


@torch.no_grad()
def encode_prompts(t5: WanTextEncoder, prompts: list[str], device: str) -> list[torch.Tensor]:
    """One ``[tokens, dim]`` embedding per prompt, cut to its real length."""
    batch = t5.tokenizer([clean_prompt(p) for p in prompts], padding="max_length", truncation=True,
                         max_length=t5.text_len, add_special_tokens=True, return_tensors="pt")
    ids = batch["input_ids"].to(device)
    mask = batch["attention_mask"].to(device)
    lengths = mask.gt(0).sum(dim=1).tolist()
    hidden = t5.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
    return [h[:n].float() for h, n in zip(hidden, lengths)]


def _cache_path(prompt: str, t5: WanTextEncoder | None) -> Path:
    base = Path(os.environ.get("WFRUN_CACHE", Path.home() / ".cache" / "wfrun")) / "text_embeds"
    owner = ""
    if t5 is not None and t5.path is not None:
        owner = f"{t5.path.name}:{t5.path.stat().st_size}"
    return base / (hashlib.sha256(f"{owner}\n{prompt.strip()}".encode()).hexdigest() + ".safetensors")


def _cached(prompt: str, t5: WanTextEncoder | None) -> list[torch.Tensor] | None:
    from safetensors.torch import load_file

    path = _cache_path(prompt, t5)
    if not path.is_file():
        return None
    try:
        data = load_file(path)
    except Exception:  # noqa: BLE001 - a damaged cache entry is re-encoded
        return None
    return [data[str(i)] for i in range(len(data))]


def _store(prompt: str, t5: WanTextEncoder | None, embeds: list[torch.Tensor]) -> None:
    from safetensors.torch import save_file

    path = _cache_path(prompt, t5)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file({str(i): e.contiguous().cpu() for i, e in enumerate(embeds)}, str(tmp))
    os.replace(tmp, path)


@executor("WanVideoTextEncode")
def wanvideo_text_encode(ctx: ExecContext, positive_prompt: str, negative_prompt: str,
                         *, t5: WanTextEncoder | None = None, force_offload: bool,
                         model_to_offload: WanVideoModel | None = None, use_disk_cache: bool,
                         **_: Any) -> tuple:
    if t5 is None and not use_disk_cache:
        raise NodeInputError("t5", "a T5 text encoder is required", "connect LoadWanVideoT5TextEncoder, "
                             "or enable use_disk_cache for prompts encoded before")
    positives_raw = [p.strip() for p in positive_prompt.split("|")]
    parsed = [parse_prompt_weights(p) for p in positives_raw]
    positives = [text for text, _ in parsed]
    context = _cached(positive_prompt, t5) if use_disk_cache else None
    context_null = _cached(negative_prompt, t5) if use_disk_cache else None
    if context is None or context_null is None:
        if t5 is None:
            raise NodeInputError("t5", "no cached embeddings for these prompts and no T5 encoder connected")
        if model_to_offload is not None:  # the pack frees the GPU for T5; here it leaves only if T5 needs the room
            residency.track(model_to_offload.transformer, ctx.device, ctx.offload_device)
        residency.bring(t5.encoder, ctx.device, t5.offload_device)
        if context is None:
            context = encode_prompts(t5, positives, ctx.device)
            for i, (_, weights) in enumerate(parsed):
                for weight in weights.values():
                    context[i] = context[i] * weight
        if context_null is None:
            context_null = encode_prompts(t5, [negative_prompt], ctx.device)
        residency.done(t5.encoder, ctx.device, t5.offload_device, force_offload=bool(force_offload))
        if use_disk_cache:
            _store(positive_prompt, t5, context)
            _store(negative_prompt, t5, context_null)
    return (TextEmbeds(tuple(context), tuple(context_null)),)


@executor("WanVideoTextEmbedBridge")
def wanvideo_text_embed_bridge(ctx: ExecContext, positive: Any, negative: Any = None, **_: Any) -> tuple:
    """ComfyUI CONDITIONING (``[[tensor[1, tokens, dim], {...}]]``) → TextEmbeds, as the pack."""
    def first(cond: Any, name: str) -> tuple[torch.Tensor, ...]:
        try:
            tensor = cond[0][0]
        except (TypeError, IndexError, KeyError):
            raise NodeInputError(name, "expected ComfyUI CONDITIONING from CLIPTextEncode") from None
        return tuple(t for t in tensor) if tensor.ndim == 3 else (tensor,)

    negative_embeds = first(negative, "negative") if negative is not None else ()
    return (TextEmbeds(first(positive, "positive"), negative_embeds),)


@executor("WanVideoTextEncodeCached")
def wanvideo_text_encode_cached(ctx: ExecContext, model_name: str, precision: str, positive_prompt: str,
                                negative_prompt: str, quantization: str, use_disk_cache: bool, device: str,
                                extender_args: Any = None, **_: Any) -> tuple:
    """The pack's one-node text encoding (2025-08+): it loads the T5 named by ``model_name``
    itself, encodes both prompts on the GPU (``device`` ``gpu``) or the CPU, keeps the
    embeddings in the disk cache when asked (the same cache as WanVideoTextEncode: a
    prompt encoded before needs no T5 load), and gives the embeds, the negative prompt's
    embeddings on their own (what WanVideoApplyNAG takes as its NAG text) and the positive
    prompt. The prompt extender (a language model rewriting the prompt) is not run."""
    if extender_args is not None:
        raise NodeInputError("extender_args", "the prompt extender is not supported by wfrun",
                             "disconnect it: the prompt is encoded as written")
    if device not in ("gpu", "cpu"):
        raise NodeInputError("device", f"unknown device {device!r}", "use gpu or cpu")
    run_ctx = ctx if device == "gpu" else dataclasses.replace(ctx, device=ctx.offload_device)
    path = resolve(ctx, "text_encoders", model_name, "model_name")
    owner = SimpleNamespace(path=path)  # the disk cache is keyed by the T5 file, as WanVideoTextEncode's
    context = _cached(positive_prompt, owner) if use_disk_cache else None
    context_null = _cached(negative_prompt, owner) if use_disk_cache else None
    if context is not None and context_null is not None:
        embeds = TextEmbeds(tuple(context), tuple(context_null))
    else:
        t5 = load_t5(run_ctx, model_name=model_name, precision=precision, load_device="offload_device",
                     quantization=quantization)[0]
        (embeds,) = wanvideo_text_encode(run_ctx, positive_prompt, negative_prompt, t5=t5, force_offload=True,
                                         use_disk_cache=use_disk_cache)
    negative = TextEmbeds(embeds.negative_prompt_embeds, embeds.negative_prompt_embeds)
    return (embeds, negative, positive_prompt)


@executor("WanVideoTextEncodeSingle")
def wanvideo_text_encode_single(ctx: ExecContext, prompt: str, *, t5: WanTextEncoder | None = None,
                                force_offload: bool, model_to_offload: WanVideoModel | None = None,
                                use_disk_cache: bool, device: str, **_: Any) -> tuple:
    """One prompt, encoded whole (2025-07 on): no ``|`` split and no ``(text:weight)``
    parsing, as the pack's node hands ``[prompt]`` to its encoder; no negative embedding
    (the sampler then refuses a cfg other than 1.0, as the pack's). ``device`` ``cpu`` runs
    the encoder on the offload device. The disk cache is WanVideoTextEncode's."""
    if device not in ("gpu", "cpu"):
        raise NodeInputError("device", f"unknown device {device!r}", "use gpu or cpu")
    run_ctx = ctx if device == "gpu" else dataclasses.replace(ctx, device=ctx.offload_device)
    context = _cached(prompt, t5) if use_disk_cache else None
    if context is None:
        if t5 is None:
            raise NodeInputError("t5", "no cached embedding for this prompt and no T5 encoder connected",
                                 "connect LoadWanVideoT5TextEncoder")
        if model_to_offload is not None:
            residency.track(model_to_offload.transformer, run_ctx.device, run_ctx.offload_device)
        residency.bring(t5.encoder, run_ctx.device, t5.offload_device)
        context = encode_prompts(t5, [prompt], run_ctx.device)
        residency.done(t5.encoder, run_ctx.device, t5.offload_device, force_offload=bool(force_offload))
        if use_disk_cache:
            _store(prompt, t5, context)
    return (TextEmbeds(tuple(context), ()),)
