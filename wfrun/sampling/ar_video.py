"""ComfyUI's ``ar_video`` sampler and the causal forward of its Causal-WAN model, on diffusers'
``WanTransformer3DModel``.

ComfyUI (``comfy/k_diffusion/sampling.py`` ``sample_ar_video``, ``comfy/ldm/wan/ar_model.py``
``CausalWanModel``) samples a Causal Forcing / Self-Forcing model block by block: a block of
``num_frame_per_block`` latent frames is denoised along all the sigmas while its
self-attention sees the keys and values of the frames already made (a KV cache), then the
clean block is run once more at sigma 0 so that *its* keys and values join the cache. The
weights are a plain Wan 2.1 T2V model; what differs is only the forward:

- **KV cache** (:class:`KVCache`, one per block of the transformer): every call writes its
  tokens' RoPE-turned keys and plain values at the cache's end and attends to everything up
  to there (no mask inside the block: a block's frames see each other). The sampler moves
  the end back after every step but the last, and again after the last before the clean
  call, so each denoising step attends to the clean past plus its own tokens, and only the
  clean call's keys stay (ComfyUI's ``cache["end"] -= bf * frame_seq_len``).
- **RoPE** starts at the block's first frame (``rope_encode(..., t_start=start_frame)``).
- **Time embedding** per frame of the block; the sampler gives every frame of a block the
  same sigma, so one embedding per sample gives the same numbers.
- Cross-attention to the text is the model's own; ComfyUI caches the text's keys and values
  after the first call, which gives the same numbers as computing them again (the text does
  not change during a run: one prompt, CFG 1).

The loop (:func:`sample_ar_video`) follows ComfyUI's: the starting noise of each block is
the run's noise at its frames; between steps the block is re-noised to the next sigma with
fresh noise drawn after ``torch.manual_seed(seed + block * 1000 + step)`` on the device of
the prediction (``(1 - s) * x0 + s * noise``), not moved along the ODE; the last step keeps
the prediction. An image-to-video start (ARVideoI2V) puts the image's latent frames first
and seeds the cache with one clean call of them before the first block.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Callable, Iterator

import torch

from wfrun.models.rope import self_attention_inputs
from wfrun.sampling.forward import rotary_embedding


class KVCache:
    """One transformer block's self-attention keys and values, ``[B, tokens, heads, head_dim]``,
    filled up to ``end`` (made on first write, in the keys' dtype and device)."""

    def __init__(self, max_tokens: int):
        self.max_tokens = int(max_tokens)
        self.k: torch.Tensor | None = None
        self.v: torch.Tensor | None = None
        self.end = 0

    def write(self, key: torch.Tensor, value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store this call's ``key``/``value`` at the end; the keys and values to attend to."""
        if self.k is None:
            shape = (key.shape[0], self.max_tokens, *key.shape[2:])
            self.k = key.new_zeros(shape)
            self.v = value.new_zeros(shape)
        new_end = self.end + key.shape[1]
        if self.end < 0 or new_end > self.max_tokens:
            raise ValueError(f"KV cache write at {self.end}..{new_end} outside its {self.max_tokens} tokens")
        self.k[:, self.end:new_end] = key  # a batch-1 start image's keys broadcast over the batch
        self.v[:, self.end:new_end] = value
        self.end = new_end
        return self.k[:, :new_end], self.v[:, :new_end]


class ARCaches:
    """The KV caches of every block of a transformer, and ComfyUI's moves of their end."""

    def __init__(self, layers: int, max_tokens: int):
        self.layers = [KVCache(max_tokens) for _ in range(layers)]

    def rollback(self, tokens: int) -> None:
        for cache in self.layers:
            cache.end -= int(tokens)

    @property
    def end(self) -> int:
        return self.layers[0].end if self.layers else 0


class _CausalSelfAttn:
    """Self-attention as diffusers' ``WanAttnProcessor`` (projections, RMS norms, RoPE), its
    keys and values going through a :class:`KVCache` (ComfyUI ``CausalWanSelfAttention``)."""

    def __init__(self, base: Any, cache: KVCache):
        self._attention_backend = getattr(base, "_attention_backend", None)
        self.cache = cache

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, rotary_emb=None):
        from diffusers.models.attention_dispatch import dispatch_attention_fn

        query, key, value = self_attention_inputs(attn, hidden_states, rotary_emb)
        keys, values = self.cache.write(key, value)
        out = dispatch_attention_fn(query, keys.to(query.dtype), values.to(query.dtype), attn_mask=None,
                                    dropout_p=0.0, is_causal=False, backend=self._attention_backend)
        out = out.flatten(2, 3).type_as(query)
        return attn.to_out[1](attn.to_out[0](out))


@contextlib.contextmanager
def causal_attention(transformer: Any, caches: ARCaches) -> Iterator[None]:
    """The blocks' self-attention reading and writing ``caches`` while the block runs."""
    blocks = transformer.blocks
    if len(blocks) != len(caches.layers):
        raise ValueError(f"{len(caches.layers)} KV caches for {len(blocks)} transformer blocks")
    saved = [block.attn1.processor for block in blocks]
    try:
        for block, cache in zip(blocks, caches.layers):
            block.attn1.processor = _CausalSelfAttn(block.attn1.processor, cache)
        yield
    finally:
        for block, processor in zip(blocks, saved):
            block.attn1.processor = processor


def causal_forward(transformer: Any, hidden_states: torch.Tensor, timestep: torch.Tensor,
                   encoder_hidden_states: torch.Tensor, start_frame: int) -> torch.Tensor:
    """One block's call (ComfyUI ``CausalWanModel.forward_block``), inside
    :func:`causal_attention`: ``hidden_states`` ``[B, C, F, H, W]`` (padded to the patch
    size), ``timestep`` ``[B]``, the text ``[B, L, 4096]``, RoPE from frame ``start_frame``;
    returns the flow prediction ``[B, C_out, F, H, W]``."""
    batch, _, frames, height, width = hidden_states.shape
    p_t, p_h, p_w = transformer.config.patch_size
    ppf, pph, ppw = frames // p_t, height // p_h, width // p_w
    device = hidden_states.device
    rotary = rotary_embedding(transformer, frames, height, width, t_start=int(start_frame))
    rotary = tuple(r.to(device) for r in rotary)
    x = transformer.patch_embedding(hidden_states).flatten(2).transpose(1, 2).contiguous()
    temb, proj, context, _ = transformer.condition_embedder(timestep, encoder_hidden_states, None)
    proj = proj.unflatten(1, (6, -1))
    for block in transformer.blocks:
        x = block(x, context, proj, rotary)
    shift, scale = (transformer.scale_shift_table.to(temb.device) + temb.unsqueeze(1)).chunk(2, dim=1)
    shift, scale = shift.to(x.device), scale.to(x.device)
    x = (transformer.norm_out(x.float()) * (1 + scale) + shift).type_as(x)
    x = transformer.proj_out(x)
    x = x.reshape(batch, ppf, pph, ppw, p_t, p_h, p_w, -1).permute(0, 7, 1, 4, 2, 5, 3, 6)
    return x.flatten(6, 7).flatten(4, 5).flatten(2, 3)


#: ``model(x, sigma, start_frame) -> x0``: one call of the causal model on a block.
BlockDenoiser = Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]


def fresh_noise(like: torch.Tensor, seed: int) -> torch.Tensor:
    """``torch.manual_seed(seed); torch.randn_like(like)`` without touching the global
    generators: a fresh generator of ``like``'s device seeded the same draws the same numbers."""
    generator = torch.Generator(device=like.device)
    generator.manual_seed(int(seed))
    return torch.randn(like.shape, generator=generator, device=like.device, dtype=like.dtype)


def sample_ar_video(model: BlockDenoiser, x: torch.Tensor, sigmas: torch.Tensor, caches: ARCaches, *,
                    seed: int, num_frame_per_block: int, frame_tokens: int,
                    initial_latent: torch.Tensor | None = None,
                    callback: Callable[[dict], None] | None = None) -> torch.Tensor:
    """ComfyUI's ``sample_ar_video`` on the scaled starting noise ``x`` ``[B, C, T, H, W]``:
    returns the denoised latent (model space). ``frame_tokens`` is one latent frame's tokens
    (``ceil(H/2) * ceil(W/2)``); ``initial_latent`` the start image's latents, model space."""
    lat_t = x.shape[2]
    per_block = int(num_frame_per_block)
    output = torch.zeros_like(x)
    start = 0
    blocks = math.ceil(lat_t / per_block)
    zero = sigmas.new_zeros([])
    if initial_latent is not None:
        n_init = initial_latent.shape[2]
        output[:, :, :n_init] = initial_latent.to(output.dtype)
        model(initial_latent, zero, 0)
        start = n_init
        blocks = math.ceil((lat_t - n_init) / per_block)
    steps = len(sigmas) - 1
    total = blocks * steps
    done = 0
    for block in range(blocks):
        frames = min(per_block, lat_t - start)
        noisy = x[:, :, start:start + frames]
        for i in range(steps):
            denoised = model(noisy, sigmas[i], start)
            if callback is not None:
                callback({"x": noisy, "i": done * steps // max(total, 1), "sigma": sigmas[i],
                          "denoised": denoised, "done": done + 1, "total": total})
            if float(sigmas[i + 1]) == 0.0:
                noisy = denoised
            else:
                sigma_next = sigmas[i + 1]
                noise = fresh_noise(denoised, seed + block * 1000 + i)
                noisy = (1.0 - sigma_next) * denoised + sigma_next * noise
                caches.rollback(frames * frame_tokens)
            done += 1
        output[:, :, start:start + frames] = noisy
        caches.rollback(frames * frame_tokens)
        model(noisy, zero, start)
        start += frames
    return output
