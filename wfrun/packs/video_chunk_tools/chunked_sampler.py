"""WanChunkedI2VSampler and WanVideoChunkCalculator (the pack's ``wan_chunked_sampler.py``).

The sampler is the pack's rolling-reference loop over the wrapper's own nodes, which the
pack takes from ComfyUI's node registry and wfrun from its executor registry (packs do not
import each other): for each chunk

1. WanVideoImageToVideoEncode of the reference image (the start image for chunk 1, then the
   previous chunk's last frame) at ``width``x``height``, ``chunk_frames`` frames;
2. WanVideoSampler over all ``steps`` with ``model`` at ``cfg``; or, with ``model_b``
   connected, ``model`` for steps [0, split_step) then ``model_b`` at ``cfg_b`` for
   [split_step, end) on the first pass's latent (context options on the first pass only);
   the same ``seed`` for every chunk and pass, no noise added to the carried latent;
3. WanVideoDecode; chunks after the first drop their first frame (it repeats the
   reference), the chunks are joined and the video is cut to ``total_frames``.

Per-chunk prompts: chunk k takes ``text_embed_sequence[k]`` (ChainTextEmbeds), the last one
repeating; without a sequence every chunk takes ``text_embeds``.

First-last-frame mode (``end_image``): a batch of B end images goes to the last B chunks,
one each, encoded with the wrapper's end-frame mode. With ``end_blend_chunks`` > 0 the last
chunk grows to the next 4n+1 that holds that many extra frames; the chunk before it keeps
its tail aside and hands the frame before that tail on as the reference, and the tail is
crossfaded into the last chunk's head with cubic ease-in weights.

The wrapper nodes get what the pack passes them; their other inputs take the Python defaults
of the wrapper's ``process``/``decode`` (``WRAPPER_DEFAULTS``, read at the wrapper's
2026-02-22 commit df8f3e4, the newest before this pack's release). The input images are first
fitted to the chunk size (``resize.py``). The pack's quirk is kept: in crossfade mode
``chunks_generated`` counts the crossfaded head and the rest of the last chunk as two.
"""

from __future__ import annotations

import gc
from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, builtin_executor, executor
from wfrun.sampling.conditioning import TextEmbeds

from .plan import chunks_for_frames, flf_last_chunk, frames_for_chunks, normalize_chunk_frames
from .resize import resize_to_target

#: Inputs the pack leaves out of its calls, at the wrapper's ``process`` defaults.
WRAPPER_DEFAULTS = {
    "WanVideoImageToVideoEncode": {"fun_or_fl2v_model": False, "tiled_vae": False, "control_embeds": None,
                                   "temporal_mask": None, "extra_latents": None, "add_cond_latents": None},
    "WanVideoSampler": {"denoise_strength": 1.0, "batched_cfg": False, "rope_function": "default",
                        "samples": None, "cache_args": None, "slg_args": None, "loop_args": None,
                        "experimental_args": None, "sigmas": None},
    "WanVideoDecode": {"normalization": "default"},
}

OOM_HINT = ("use smaller chunk_frames or a smaller size, keep transformer blocks on the CPU (WanVideoBlockSwap), "
            "or load the models in fp8")


@executor("WanVideoChunkCalculator")
def wan_video_chunk_calculator(ctx: ExecContext, num_chunks: int, chunk_frames: int, **_: Any) -> tuple:
    return (frames_for_chunks(int(num_chunks), int(chunk_frames)),)


def _wrapper(class_type: str) -> Any:
    return builtin_executor(class_type, "model")


def _call(class_type: str, ctx: ExecContext, where: str, rename: dict[str, str], **inputs: Any) -> tuple:
    """One wrapper node; its input errors name this node's input and the chunk and stage."""
    try:
        return _wrapper(class_type)(ctx, **{**WRAPPER_DEFAULTS[class_type], **inputs})
    except NodeInputError as err:
        raise NodeInputError(rename.get(err.input_name, err.input_name), f"{where} ({class_type}): {err}",
                             err.hint) from None


def chunk_text(index: int, text_embeds: TextEmbeds | None, sequence: Any) -> TextEmbeds | None:
    """Chunk ``index``'s prompt: the sequence's entry (its last one repeating), else ``text_embeds``."""
    if sequence is None:
        return text_embeds
    return sequence[min(index, len(sequence) - 1)]


def crossfade(tail: torch.Tensor, head: torch.Tensor) -> torch.Tensor:
    """The pack's FLF seam: ``tail`` (kept from the previous chunk) fades into ``head`` with
    weights t^3 at t = i/(n+1), i = 1..n (mostly the old chunk, the new one at the end)."""
    n = tail.shape[0]
    alpha = (torch.linspace(0.0, 1.0, n + 2)[1:-1] ** 3).to(head.dtype).view(-1, 1, 1, 1)
    return (1.0 - alpha) * tail + alpha * head


def _check(model: Any, model_b: Any, steps: int, split_step: int, text_embed_sequence: Any,
           start_image: Any, end_image: Any) -> None:
    if model_b is not None and split_step >= steps:
        raise NodeInputError("split_step", f"split_step ({split_step}) must be less than steps ({steps}) when "
                             "model_b is connected", "model runs steps 0..split_step, model_b the rest")
    if text_embed_sequence is not None:
        if not isinstance(text_embed_sequence, (tuple, list)) or not text_embed_sequence \
                or not all(isinstance(t, TextEmbeds) for t in text_embed_sequence):
            raise NodeInputError("text_embed_sequence", "expected a TEXT_EMBED_SEQUENCE of text embeds",
                                 "connect ChainTextEmbeds")
    for name, image in (("start_image", start_image), ("end_image", end_image)):
        if image is not None and (not isinstance(image, torch.Tensor) or image.ndim != 4 or image.shape[0] == 0):
            raise NodeInputError(name, "expected an IMAGE [frames, height, width, channels]")


@executor("WanChunkedI2VSampler", oom_hint=OOM_HINT)
def wan_chunked_i2v_sampler(
        ctx: ExecContext, model: Any, vae: Any, start_image: torch.Tensor, total_frames: int, chunk_frames: int,
        width: int, height: int, keep_proportion: str, crop_position: str, steps: int, cfg: Any, shift: float,
        seed: int, force_offload: bool, scheduler: str, enable_vae_tiling: bool, *, model_b: Any = None,
        split_step: int, cfg_b: Any, text_embeds: TextEmbeds | None = None, text_embed_sequence: Any = None,
        clip_embeds: Any = None, feta_args: Any = None, context_options: Any = None, noise_aug_strength: float,
        start_latent_strength: float, end_latent_strength: float, riflex_freq_index: int, tile_x: int, tile_y: int,
        tile_stride_x: int, tile_stride_y: int, end_image: torch.Tensor | None = None, end_blend_chunks: int,
        **_: Any) -> tuple:
    steps, split_step, total_frames = int(steps), int(split_step), int(total_frames)
    _check(model, model_b, steps, split_step, text_embed_sequence, start_image, end_image)
    width, height = int(width), int(height)
    start_image = resize_to_target(start_image, width, height, keep_proportion, crop_position)
    if end_image is not None:
        end_image = resize_to_target(end_image, width, height, keep_proportion, crop_position)
    size = normalize_chunk_frames(int(chunk_frames))
    num_chunks = chunks_for_frames(total_frames, size)
    fade, last_size = flf_last_chunk(size, int(end_blend_chunks), num_chunks, end_image is not None)
    sample_common = dict(steps=steps, shift=float(shift), seed=int(seed), force_offload=bool(force_offload),
                         scheduler=scheduler, riflex_freq_index=int(riflex_freq_index), feta_args=feta_args,
                         add_noise_to_samples=False)
    encode_common = dict(vae=vae, width=width, height=height, force_offload=bool(force_offload),
                         noise_aug_strength=float(noise_aug_strength), start_latent_strength=float(start_latent_strength),
                         end_latent_strength=float(end_latent_strength), clip_embeds=clip_embeds)
    decode_common = dict(vae=vae, enable_vae_tiling=bool(enable_vae_tiling), tile_x=int(tile_x), tile_y=int(tile_y),
                         tile_stride_x=int(tile_stride_x), tile_stride_y=int(tile_stride_y))

    parts: list[torch.Tensor] = []
    produced = 0
    reference = start_image
    saved_tail: torch.Tensor | None = None
    for k in range(num_chunks):
        if produced >= total_frames:
            break
        ctx.check_interrupt()
        where = f"chunk {k + 1} of {num_chunks}"
        last = k == num_chunks - 1
        text = chunk_text(k, text_embeds, text_embed_sequence)
        target = None
        if end_image is not None:
            t = end_image.shape[0] - num_chunks + k  # B end images go to the last B chunks
            if 0 <= t < end_image.shape[0]:
                target = end_image[t:t + 1]
        frames = last_size if (last and fade > 0) else size
        encode = dict(encode_common, num_frames=frames, start_image=reference)
        if target is not None:
            encode["end_image"] = target
        (embeds,) = _call("WanVideoImageToVideoEncode", ctx, where, {"start_image": "start_image"}, **encode)
        if model_b is not None:
            high, _ = _call("WanVideoSampler", ctx, f"{where}, first pass", {}, model=model, image_embeds=embeds,
                            cfg=cfg, text_embeds=text, context_options=context_options, start_step=0,
                            end_step=split_step, **sample_common)
            latent, _ = _call("WanVideoSampler", ctx, f"{where}, second pass", {"model": "model_b", "cfg": "cfg_b"},
                              **{**dict(model=model_b, image_embeds=embeds, cfg=cfg_b, text_embeds=text,
                                        context_options=None, start_step=split_step, end_step=-1),
                                 **sample_common, "samples": high})
            del high
        else:
            latent, _ = _call("WanVideoSampler", ctx, where, {}, model=model, image_embeds=embeds, cfg=cfg,
                              text_embeds=text, context_options=context_options, start_step=0, end_step=-1,
                              **sample_common)
        (video,) = _call("WanVideoDecode", ctx, where, {}, samples=latent, **decode_common)
        if k > 0:
            video = video[1:]  # the reference frame, already the previous chunk's last
        if k == num_chunks - 2 and fade > 0 and end_image is not None:
            keep = min(fade, video.shape[0] - 2)
            saved_tail = video[-keep:].clone()
            reference = video[-(keep + 1)].unsqueeze(0).clone()
            video = video[:-keep]
            parts.append(video)
            produced += video.shape[0]
        elif last and fade > 0 and saved_tail is not None:
            n = saved_tail.shape[0]
            parts += [crossfade(saved_tail, video[:n]), video[n:]]
            produced += n + video[n:].shape[0]
            saved_tail = None
        else:
            parts.append(video)
            produced += video.shape[0]
            if not last:
                reference = video[-1:].clone()
        del embeds, latent, video
        gc.collect()
    out = torch.cat(parts, dim=0)
    if out.shape[0] > total_frames:
        out = out[:total_frames]
    return (out, int(out.shape[0]), len(parts))
