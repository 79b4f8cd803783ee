"""One forward of Wan Animate 2 (Wan2.2-Animate-2-14B) on a diffusers ``WanTransformer3DModel``,
as ComfyUI's ``WanAnimate2Model`` runs it (``comfy/ldm/wan/model_animate2.py``, read at
Comfy-Org/ComfyUI 1e416935).

Animate 2 has the weights of Wan 2.1 I2V 14B and no part of its own: the motion comes from a
*pose branch*, the pose video's latents run through the same blocks beside the generation,
handing each block's self-attention keys and values to the generation branch.

- **Generation branch**: the I2V model's input (latents, 4 mask channels, image latents)
  with the reference image's latent frame first; RoPE as usual; its prompt and CLIP states.
- **Pose branch**: the pose latents (normalised, one frame fewer than the generation: the
  reference slot has no pose) patch-embedded as ``[pose, 1111, pose]`` (36 channels: every
  frame known); timestep 1 (clean); its own prompt (``cross_attn_pose``) and CLIP states
  (``clip_vision_output_pose``, else the generation's); RoPE frames from 1 (pose frame
  ``j`` lines up with generation frame ``j + 1``) and columns shifted by the grid's width
  (its own strip of rope space). Each block runs on it as a plain block, keeping the
  self-attention's keys (after RMS norm and RoPE) and values.
- **Per block**, the generation's self-attention: generation frame 0 (the reference slot)
  attends every generation token; frame ``j >= 1`` attends every generation token plus pose
  frame ``j - 1``'s tokens. ``pose_strength`` scales the pose values, ``reference_strength``
  the values of frame 0's tokens. The rest of the block (cross-attention, feed-forward) is
  the plain block's.
- With no pose latents (the pose window of WanAnimate2ToVideo excludes the step) the branch
  is skipped and the self-attention is plain, ``reference_strength`` still applied.

Where wfrun differs: ComfyUI can keep each block's pose input between steps
(WanAnimate2Cache; the branch does not depend on the noisy latent, so this changes nothing
at its ``default`` precision, and rounds the inputs at ``int8``/``int4``); wfrun re-runs the
branch at every call, as ComfyUI without the cache. Attention is PyTorch's SDPA whatever
attention backend the model asks for.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Iterator

import torch
import torch.nn.functional as F

from wfrun.sampling.forward import apply_rotary, rotary_embedding


@dataclass(frozen=True)
class Animate2Inputs:
    """The pose branch of one conditioning entry (ComfyUI ``WAN_Animate2.extra_conds``)."""

    #: ``[B, 16, F - 1, h, w]`` normalised pose latents; None: no pose branch at this call.
    pose: torch.Tensor | None
    #: ``[B, L, 4096]`` the pose branch's prompt (text encoder output); None: the generation's.
    context: torch.Tensor | None
    #: ``[B, 257, 1280]`` the pose branch's CLIP states; None: the generation's.
    clip: torch.Tensor | None = None
    pose_strength: float = 1.0
    reference_strength: float = 1.0


def takes_animate2(transformer: Any) -> bool:
    """Whether the transformer is shaped as Animate 2 is (Wan 2.1 I2V: 36 input channels and
    a CLIP image projection)."""
    config = transformer.config
    return (int(config.in_channels) == 36 and getattr(transformer.condition_embedder, "image_embedder", None)
            is not None and getattr(transformer, "pose_patch_embedding", None) is None)


def _qkv(attn: Any, hidden_states: torch.Tensor, rotary_emb: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Self-attention queries, keys and values ``[B, S, heads, D]`` as diffusers' Wan processor."""
    from diffusers.models.transformers.transformer_wan import _get_qkv_projections

    query, key, value = _get_qkv_projections(attn, hidden_states, None)
    query = attn.norm_q(query).unflatten(2, (attn.heads, -1))
    key = attn.norm_k(key).unflatten(2, (attn.heads, -1))
    value = value.unflatten(2, (attn.heads, -1))
    if rotary_emb is not None:
        query, key = apply_rotary(query, *rotary_emb), apply_rotary(key, *rotary_emb)
    return query, key, value


def _attend(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """``[B, S, heads, D]`` attention, PyTorch's SDPA."""
    out = F.scaled_dot_product_attention(query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2))
    return out.transpose(1, 2)


class _PoseBranchAttention:
    """The pose branch's self-attention: plain, its keys and values kept for the generation."""

    def __init__(self) -> None:
        self.key: torch.Tensor | None = None
        self.value: torch.Tensor | None = None

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, rotary_emb=None):
        query, self.key, self.value = _qkv(attn, hidden_states, rotary_emb)
        out = _attend(query, self.key, self.value).flatten(2, 3).type_as(query)
        return attn.to_out[1](attn.to_out[0](out))


class _GenerationAttention:
    """The generation's self-attention with the pose frame each frame sees (module docstring)."""

    def __init__(self, pose_key: torch.Tensor | None, pose_value: torch.Tensor | None, frames: int,
                 tokens_per_frame: int, reference_strength: float):
        self.pose_key, self.pose_value = pose_key, pose_value
        self.frames, self.hw, self.reference_strength = frames, tokens_per_frame, reference_strength

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, rotary_emb=None):
        query, key, value = _qkv(attn, hidden_states, rotary_emb)
        hw = self.hw
        if self.reference_strength != 1.0:
            value = value.clone()
            value[:, :hw] = value[:, :hw] * self.reference_strength
        if self.pose_key is None:
            out = _attend(query, key, value)
        else:
            out = torch.empty_like(query)
            for j in range(self.frames):
                rows = slice(j * hw, (j + 1) * hw)
                if j == 0:
                    k, v = key, value
                else:
                    pose = slice((j - 1) * hw, j * hw)
                    k = torch.cat([key, self.pose_key[:, pose]], dim=1)
                    v = torch.cat([value, self.pose_value[:, pose]], dim=1)
                out[:, rows] = _attend(query[:, rows], k, v)
        out = out.flatten(2, 3).type_as(query)
        return attn.to_out[1](attn.to_out[0](out))


@contextlib.contextmanager
def _self_attention(block: Any, processor: Any) -> Iterator[None]:
    saved = block.attn1.processor
    block.attn1.processor = processor
    try:
        yield
    finally:
        block.attn1.processor = saved


def _embedded(transformer: Any, timestep: torch.Tensor, context: torch.Tensor,
              clip: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(time embedding, block modulation ``[B, 6, dim]``, cross-attention context: CLIP tokens
    then text tokens)."""
    temb, proj, text, image = transformer.condition_embedder(timestep, context, clip)
    if image is not None:
        if image.shape[0] != text.shape[0]:
            image = image.expand(text.shape[0], -1, -1)
        text = torch.cat([image, text], dim=1)
    return temb, proj.unflatten(1, (6, -1)), text


def animate2_forward(transformer: Any, hidden_states: torch.Tensor, timestep: torch.Tensor,
                     encoder_hidden_states: torch.Tensor, encoder_hidden_states_image: torch.Tensor | None,
                     inputs: Animate2Inputs) -> torch.Tensor:
    """One call: ``hidden_states`` ``[B, 36, F, H, W]`` (padded to the patches), ``timestep``
    ``[B]``; returns ``[B, 16, F, H, W]``."""
    if timestep.ndim != 1:
        raise ValueError("Wan Animate 2 takes one timestep per sample, not per frame")
    batch, _, frames, height, width = hidden_states.shape
    p_t, p_h, p_w = transformer.config.patch_size
    ppf, pph, ppw = frames // p_t, height // p_h, width // p_w
    hw = pph * ppw
    rotary = transformer.rope(hidden_states)
    x = transformer.patch_embedding(hidden_states).flatten(2).transpose(1, 2)
    temb, proj, context = _embedded(transformer, timestep, encoder_hidden_states, encoder_hidden_states_image)

    x_pose = None
    if inputs.pose is not None:
        pose = inputs.pose.to(hidden_states.device, hidden_states.dtype)
        if pose.shape[2] != frames - p_t or pose.shape[-2:] != hidden_states.shape[-2:]:
            raise ValueError(f"the pose branch has {pose.shape[2]} latent frames of {tuple(pose.shape[-2:])}, "
                             f"expected {frames - p_t} of {tuple(hidden_states.shape[-2:])} (the generation's "
                             "frames but the reference slot)")
        pose = pose.expand(batch, -1, -1, -1, -1) if pose.shape[0] != batch else pose
        known = torch.ones_like(pose[:, :4])
        x_pose = transformer.patch_embedding(torch.cat([pose, known, pose], dim=1)).flatten(2).transpose(1, 2)
        pose_context = (inputs.context if inputs.context is not None else encoder_hidden_states).to(
            encoder_hidden_states)
        if pose_context.shape[0] != batch:
            pose_context = pose_context.expand(batch, -1, -1)
        pose_clip = inputs.clip if inputs.clip is not None else encoder_hidden_states_image
        if pose_clip is not None:
            pose_clip = pose_clip.to(hidden_states.device, hidden_states.dtype)
        _, pose_proj, pose_context = _embedded(transformer, torch.ones_like(timestep), pose_context, pose_clip)
        pose_rotary = rotary_embedding(transformer, pose.shape[2], height, width, t_start=1, w_start=ppw)
        pose_rotary = tuple(r.to(x.device) for r in pose_rotary)

    for block in transformer.blocks:
        pose_key = pose_value = None
        if x_pose is not None:
            branch = _PoseBranchAttention()
            with _self_attention(block, branch):
                x_pose = block(x_pose, pose_context, pose_proj, pose_rotary)
            pose_key, pose_value = branch.key, branch.value
            if inputs.pose_strength != 1.0:
                pose_value = pose_value * inputs.pose_strength
        generation = _GenerationAttention(pose_key, pose_value, ppf, hw, inputs.reference_strength)
        with _self_attention(block, generation):
            x = block(x, context, proj, rotary)

    shift, scale = (transformer.scale_shift_table.to(temb.device) + temb.unsqueeze(1)).chunk(2, dim=1)
    x = (transformer.norm_out(x.float()) * (1 + scale.to(x.device)) + shift.to(x.device)).type_as(x)
    x = transformer.proj_out(x)
    x = x.reshape(batch, ppf, pph, ppw, p_t, p_h, p_w, -1).permute(0, 7, 1, 4, 2, 5, 3, 6)
    return x.flatten(6, 7).flatten(4, 5).flatten(2, 3)
