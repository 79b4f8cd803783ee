"""One forward of a HuMo transformer (diffusers' ``WanTransformer3DModel`` with the parts of
:mod:`wfrun.models.humo_parts`), as ComfyUI's ``HumoWanModel.forward_orig`` runs it.

1. **Video**: the patch embedding of the noisy latents (for the 17B with its image
   channels: :func:`image_channels`); RoPE frame ``f``, row, column.
2. **Reference** (``reference``: the last reference latent, normalised, all its frames; for
   the 17B widened by :func:`reference_channels`): the same patch embedding, its tokens after
   the video's, at RoPE frames ``F, F + 1, …`` (F latent frames of video: the frames right
   after the video's). It shares the video's timestep (ComfyUI spreads one modulation over
   every token).
3. **Audio** (``audio``: ``[B, F, 8, 5, C]`` Whisper windows, one per latent frame): zeros
   for each reference frame appended, then ``audio_proj`` to a few tokens per frame.
4. The blocks; in each, right after the text cross-attention, the block's
   ``audio_cross_attn_wrapper`` term times ``audio_scale`` (1 in ComfyUI; the wrapper's
   ``HuMoEmbeds`` sets it) is added: the sequence (video and reference tokens) is split
   evenly into as many groups as the audio has frames, each attending to its frame's tokens.
   diffusers' block adds the cross-attention output itself, so hooks on ``norm2`` (the
   block's hidden states before it) and ``attn2`` (returning its output plus the audio
   term) put the term in the same place; the hooks live for the one call.
5. The head on the video's tokens, unpatchified.

Not supported with HuMo (refused by name): per-frame timesteps, context windows, NAG, step
caches, ``--gpus`` context parallelism.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Iterator

import torch
from diffusers.hooks import ModelHook
from torch import nn

from wfrun.models import module_hooks
from wfrun.models.humo_parts import BLOCK_PART
from wfrun.sampling import context_parallel
from wfrun.sampling.forward import ForwardOptions
from wfrun.sampling.hooks import active_pass
from wfrun.sampling.s2v import grid_positions, rope_tables

#: ComfyUI's ``WAN21_HuMo`` (17B): the image channels of the video's frames hold the
#: normalised Wan 2.1 VAE latent of a mid-grey video (zeros in [-1, 1]) — the first latent
#: frame, the second, and every later one — behind four zero mask channels.
GREY_LATENT = (
    (0.8660, -0.4326, -0.0017, -0.4884, -0.5283, 0.9207, -0.9896, 0.4433, -0.5543, -0.0113, 0.5753, -0.6000,
     -0.8346, -0.3497, -0.1926, -0.6938),
    (1.0869, -1.2370, 0.0206, -0.4357, -0.6411, 2.0307, -1.5972, 1.2659, -0.8595, -0.4654, 0.9638, -1.6330,
     -1.4310, -0.1098, -0.3856, -1.4583),
    (0.8642, -1.8583, 0.1577, 0.1350, -0.3641, 2.5863, -1.9670, 1.6065, -1.0475, -0.8678, 1.1734, -1.8138,
     -1.5933, -0.7721, -0.3289, -1.3745),
)
MASK_CHANNELS = 4

_INPUT = "wfrun.humo.input"
_AUDIO = "wfrun.humo.audio"


@dataclass(frozen=True)
class HuMoInputs:
    """What one HuMo call is conditioned on beyond text (batch 1 or B)."""

    audio: torch.Tensor | None = None      # [B, F, window, groups, C] Whisper windows
    reference: torch.Tensor | None = None  # [B, C, Fr, h, w], latent-format normalised
    audio_scale: float = 1.0


@dataclass(frozen=True)
class HuMoEmbeds:
    """The HuMo part of the wrapper's WANVIDIMAGE_EMBEDS (``HuMoEmbeds``): per-frame Whisper
    layer groups ``audio`` ``[T, 5, C]`` (zeros without sound; windowed by the sampler), the
    image conditioning ``image_cond`` / ``image_cond_neg`` ``[4 + 16, F + R, h, w]`` (mask,
    then latents: the grey video's, the references' at the end), ``references`` (R), and the
    node's audio settings."""

    audio: torch.Tensor
    image_cond: torch.Tensor
    image_cond_neg: torch.Tensor
    references: int
    audio_scale: float = 1.0
    audio_cfg_scale: float = 1.0
    start_percent: float = 0.0
    end_percent: float = 1.0


class _BlockInput(ModelHook):
    """On a block's ``norm2``: the hidden states before the text cross-attention."""

    def __init__(self) -> None:
        super().__init__()
        self.x: torch.Tensor | None = None

    def pre_forward(self, module: nn.Module, *args: Any, **kwargs: Any):
        self.x = args[0] if args else kwargs.get("input")
        return args, kwargs


class _AudioTerm(ModelHook):
    """On a block's ``attn2``: its output plus ``scale x audio_cross_attn_wrapper(x + output)``."""

    def __init__(self, part: nn.Module, before: _BlockInput, tokens: torch.Tensor, scale: float):
        super().__init__()
        self.part, self.before, self.tokens, self.scale = part, before, tokens, scale

    def post_forward(self, module: nn.Module, output: Any) -> Any:
        x = self.before.x.to(output.dtype) + output
        self.before.x = None
        added = self.part(x, self.tokens).to(output.dtype)
        return output + (added if self.scale == 1.0 else added * self.scale)


@contextlib.contextmanager
def _audio_hooks(transformer: Any, tokens: torch.Tensor, scale: float) -> Iterator[None]:
    attached: list[tuple[Any, str]] = []
    try:
        for block in transformer.blocks:
            before = module_hooks.attach(block.norm2, _INPUT, _BlockInput())
            attached.append((block.norm2, _INPUT))
            module_hooks.attach(block.attn2, _AUDIO, _AudioTerm(getattr(block, BLOCK_PART), before, tokens, scale))
            attached.append((block.attn2, _AUDIO))
        yield
    finally:
        for module, name in reversed(attached):
            module_hooks.detach(module, name)


def image_channels(batch: int, frames: int, height: int, width: int) -> torch.Tensor:
    """The 17B's extra input channels for the video ``[B, 4 + 16, F, h, w]``: a zero mask, then
    :data:`GREY_LATENT` by latent frame."""
    grey = torch.tensor(GREY_LATENT)
    per_frame = torch.stack([grey[min(f, len(GREY_LATENT) - 1)] for f in range(frames)], dim=1)  # [16, F]
    out = torch.zeros(batch, MASK_CHANNELS + grey.shape[1], frames, height, width)
    out[:, MASK_CHANNELS:] = per_frame[None, :, :, None, None]
    return out


def reference_channels(reference: torch.Tensor) -> torch.Tensor:
    """The 17B's reference input ``[B, 16 + 4 + 16, Fr, h, w]``: zero noise channels, a mask
    of ones, the normalised reference latent."""
    b, c = reference.shape[:2]
    out = reference.new_zeros(b, 2 * c + MASK_CHANNELS, *reference.shape[2:])
    out[:, c:c + MASK_CHANNELS] = 1.0
    out[:, c + MASK_CHANNELS:] = reference
    return out


def _batch(x: torch.Tensor, batch: int) -> torch.Tensor:
    return x if x.shape[0] == batch else x.expand(batch, *x.shape[1:])


def audio_tokens(transformer: Any, audio: torch.Tensor, reference_frames: int, batch: int,
                 device: Any) -> torch.Tensor:
    """``[B, F + Fr, tokens, width]``: the projection of the audio windows, zero windows for
    the reference frames appended first (ComfyUI's ``zero_audio_pad``)."""
    audio = _batch(audio, batch).to(device)
    if reference_frames:
        audio = torch.cat([audio, audio.new_zeros(batch, reference_frames, *audio.shape[2:])], dim=1)
    proj = transformer.audio_proj
    return proj(audio.to(proj.dtype))


def humo_forward(transformer: Any, hidden_states: torch.Tensor, timestep: torch.Tensor, context: torch.Tensor,
                 inputs: HuMoInputs, call: ForwardOptions | None = None) -> torch.Tensor:
    """The model's output ``[B, C, F, H, W]`` for latents ``hidden_states`` (sizes multiples
    of the patch), ``timestep`` ``[B]`` (``sigma * 1000``) and text ``context`` ``[B, L,
    text_dim]`` (already batched). ``call`` is published to the sampling pass's block hooks
    (SLG's skip pass); step caches are refused."""
    tr = transformer
    if context_parallel.active() is not None:
        raise context_parallel.ContextParallelError("a HuMo model does not run with --gpus yet: run on one GPU")
    if timestep.ndim != 1:
        raise ValueError("per-frame timesteps are not supported with a HuMo model")
    sampling = active_pass(tr)
    if sampling is not None:
        if sampling.teacache is not None:
            raise ValueError("step caches (TeaCache, EasyCache, MagCache) are not supported with a HuMo model yet")
        sampling.call = call or ForwardOptions()
    batch, _, frames, height, width = hidden_states.shape
    p_t, p_h, p_w = tr.config.patch_size
    ppf, pph, ppw = frames // p_t, height // p_h, width // p_w
    device = hidden_states.device
    dtype = tr.patch_embedding.weight.dtype

    x = tr.patch_embedding(hidden_states.to(dtype)).flatten(2).transpose(1, 2)
    video_tokens = x.shape[1]
    positions = [grid_positions(torch.arange(ppf), torch.arange(pph), torch.arange(ppw))]
    ref_frames = 0
    if inputs.reference is not None:
        r = tr.patch_embedding(_batch(inputs.reference, batch).to(device, dtype))
        ref_frames, rh, rw = r.shape[2:]
        x = torch.cat([x, r.flatten(2).transpose(1, 2).to(x.dtype)], dim=1)
        positions.append(grid_positions(torch.arange(ppf, ppf + ref_frames), torch.arange(rh), torch.arange(rw)))
    cos, sin = rope_tables(int(tr.config.attention_head_dim), torch.cat(positions, dim=0))
    rotary = (cos.to(device), sin.to(device))

    temb, proj, context, _ = tr.condition_embedder(timestep.to(device), context.to(device), None)
    proj = proj.unflatten(1, (6, -1))

    hooks = contextlib.nullcontext()
    if inputs.audio is not None:
        tokens = audio_tokens(tr, inputs.audio, ref_frames, batch, device)
        hooks = _audio_hooks(tr, tokens, float(inputs.audio_scale))
    with hooks:
        for block in tr.blocks:
            x = block(x, context, proj, rotary)

    x = x[:, :video_tokens]
    shift, scale = (tr.scale_shift_table.to(temb.device) + temb.unsqueeze(1)).chunk(2, dim=1)
    shift, scale = shift.to(x.device), scale.to(x.device)
    x = tr.proj_out((tr.norm_out(x.float()) * (1 + scale) + shift).type_as(x))
    x = x.reshape(batch, ppf, pph, ppw, p_t, p_h, p_w, -1).permute(0, 7, 1, 4, 2, 5, 3, 6)
    return x.flatten(6, 7).flatten(4, 5).flatten(2, 3)
