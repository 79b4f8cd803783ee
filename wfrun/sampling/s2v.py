"""One forward of a Wan 2.2 S2V transformer (diffusers' ``WanTransformer3DModel`` with the
parts of :mod:`wfrun.models.s2v_parts`), as ComfyUI's ``WanModel_S2V.forward_orig`` runs it.

The sequence is the video's tokens, then the reference image's, then the motion tokens:

1. **Audio**: the first ``4 x F`` steps of ``audio_embed`` (``[B, layers, C, T]``, F latent
   frames) through the causal audio encoder: per latent frame, local tokens and one global token.
2. **Video**: the patch embedding of the noisy latents, plus ``cond_encoder`` of the
   pose/control latents (ComfyUI's node always gives them: zero latents when no control
   video, so the encoder's bias is always added), plus ``trainable_cond_mask[0]``. RoPE: frame
   ``f``, row, column as usual.
3. **Reference** (the last ``reference_latents``, normalised, all its frames): the same patch
   embedding plus ``trainable_cond_mask[1]``, at RoPE frames from ``max(30, F + 9)`` on.
4. **Motion** (``reference_motion``: the previous chunk's latents, normalised): the frame
   packer's tokens plus ``trainable_cond_mask[2]``. RoPE (ComfyUI's ``rope_encode``): the
   newest frame at frame -1 on the full grid; the 2x4x4 patch at frame -3 and the 4x8x8
   patches at frames -19..-16, their rows and columns spread evenly over the full grid's
   ``0 … rows - 1`` (fractional positions).
5. **Timesteps**, ComfyUI's way: one per latent frame, a 0 per reference frame; with motion
   tokens every entry is doubled and three 0s are added. Each entry's modulation covers
   ``L / entries`` tokens in order (``repeat_e``; one more, cut at the end, when that does
   not divide) — with even patch grids exactly: video tokens get their frame's timestep,
   reference and motion tokens 0.
6. The blocks, each followed (after blocks listed in ``S2V_INJECT_LAYERS``) by the audio
   injector on the video tokens; the head on every token; the video's tokens unpatchified.

The wrapper's S2V (``sampling.s2v_wrapper``) runs this forward with two of its own
choices as inputs: ``audio_scale`` (the local audio tokens scaled) and the video tokens'
learned vector added to the reference tokens as well.

Where this differs from ComfyUI: nothing in the arithmetic (its patch embedding runs in
fp32, wfrun's in the model's dtype). ComfyUI itself differs from the official code in one
place wfrun follows ComfyUI on: the motion tokens' spread rows and columns are fractional
RoPE positions there, while the official ``s2v_utils.rope_precompute`` truncates them to
integers (``np.linspace(...).astype(int)``).

NAG (``call.nag``, KJNodes' WanVideoNAG on the core MODEL): the blocks' text
cross-attention of the positive pass is guided as in any Wan forward
(:mod:`wfrun.sampling.nag`). KJNodes patches every block's ``cross_attn`` whatever the
model, and ComfyUI's S2V blocks are the plain ones (text-only cross-attention, no CLIP
tokens), so the same rule holds there; the audio injector after a block is not touched.

Not supported with S2V (refused by name): context windows, step caches (TeaCache,
EasyCache, MagCache: whatever the pass holds as its step cache), ``--gpus`` context
parallelism.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from wfrun.models.families.wan_transformer import S2V_AUDIO_PER_LATENT
from wfrun.sampling import context_parallel
from wfrun.sampling.forward import ForwardOptions
from wfrun.sampling.hooks import active_pass
from wfrun.sampling.nag import nag_cross_attention

#: Where the reference image's RoPE frames start: ``max(REF_FRAME_MIN, frames + REF_FRAME_GAP)``.
REF_FRAME_MIN, REF_FRAME_GAP = 30, 9
#: The motion patchings' RoPE frames (first frame, frames spanned), nearest first (ComfyUI's
#: ``FramePackMotioner``: ``t_start`` -1, -3, -19 over 1, 1 and 4 frames).
MOTION_ROPE_FRAMES = ((-1, 1), (-3, 1), (-19, 4))
#: Zero-timestep entries the motion tokens add after the doubling (1.5 frames' worth).
MOTION_TIMESTEP_ENTRIES = 3


@dataclass(frozen=True)
class S2VInputs:
    """What one S2V call is conditioned on, beyond text (all optional, batch 1 or B)."""

    audio: torch.Tensor | None = None      # audio_embed [B, layers, C, T] (wav2vec2 features)
    reference: torch.Tensor | None = None  # [B, C, Fr, h, w], latent-format normalised
    control: torch.Tensor | None = None    # [B, C, F, h, w], normalised (pose / control video)
    motion: torch.Tensor | None = None     # [B, C, Tm, h, w], normalised (the video so far)
    #: The wrapper's ``audio_scale``: the local audio tokens the injectors attend to are scaled by it.
    audio_scale: float = 1.0
    #: The wrapper adds the video tokens' ``trainable_cond_mask[0]`` to the reference tokens
    #: too (its forward adds it to the whole sequence after appending them); ComfyUI does not.
    video_kind_on_reference: bool = False
    #: Audio frames encoded in front and dropped (the wrapper's framepack loop: its motion
    #: frames' worth of repeated audio, ``s2v_motion_frames[1]``); the audio read is then
    #: the first ``4 x (F + skip)`` steps.
    audio_skip_frames: int = 0


def rope_tables(head_dim: int, positions: torch.Tensor, theta: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin ``[1, L, 1, head_dim]`` in diffusers' layout for (frame, row, column)
    positions ``[L, 3]`` that may be negative or fractional: the axes take ``head_dim - 2k``,
    ``k`` and ``k`` channels (``k = 2 (head_dim // 6)``), each pair rotating by
    ``position / theta^(2i / axis_dim)``, computed in float64 as diffusers' tables are."""
    k = 2 * (head_dim // 6)
    cos, sin = [], []
    for axis, dim in enumerate((head_dim - 2 * k, k, k)):
        freqs = 1.0 / theta ** (torch.arange(0, dim, 2, dtype=torch.float64)[: dim // 2] / dim)
        angles = positions[:, axis].double()[:, None] * freqs[None]
        cos.append(angles.cos().repeat_interleave(2, dim=1))
        sin.append(angles.sin().repeat_interleave(2, dim=1))
    return (torch.cat(cos, dim=1).float().view(1, -1, 1, head_dim),
            torch.cat(sin, dim=1).float().view(1, -1, 1, head_dim))


def grid_positions(frames: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """``[len(frames) * len(rows) * len(cols), 3]`` positions, frame-major (token order)."""
    f, r, c = torch.meshgrid(frames.double(), rows.double(), cols.double(), indexing="ij")
    return torch.stack([f, r, c], dim=-1).reshape(-1, 3)


def _span(start: float, count: int, steps: int) -> torch.Tensor:
    """ComfyUI's ``linspace(start, start + count - 1, steps)``."""
    return torch.linspace(start, start + count - 1, steps, dtype=torch.float64)


def motion_positions(grids: list[tuple[int, int, int]], rows: int, cols: int) -> torch.Tensor:
    """RoPE positions of the frame packer's tokens: ``grids`` its (frames, rows, cols) per
    patching, ``rows``/``cols`` the full 1x2x2 patch grid of the motion latents."""
    out = []
    for (start, span), (gf, gh, gw) in zip(MOTION_ROPE_FRAMES, grids):
        out.append(grid_positions(_span(start, span, gf), _span(0, rows, gh), _span(0, cols, gw)))
    return torch.cat(out, dim=0)


def spread(values: torch.Tensor, tokens: int) -> torch.Tensor:
    """ComfyUI's ``repeat_e``: per-entry values ``[B, E, …]`` over ``tokens`` tokens."""
    entries = values.shape[1]
    if entries <= 1:
        return values.expand(values.shape[0], tokens, *values.shape[2:])
    repeats = tokens // entries
    if repeats * entries == tokens:
        return values.repeat_interleave(repeats, dim=1)
    return values.repeat_interleave(repeats + 1, dim=1)[:, :tokens]


def _batch(x: torch.Tensor, batch: int) -> torch.Tensor:
    return x if x.shape[0] == batch else x.expand(batch, *x.shape[1:])


def s2v_forward(transformer, hidden_states: torch.Tensor, timestep: torch.Tensor, context: torch.Tensor,
                inputs: S2VInputs, call: ForwardOptions | None = None) -> torch.Tensor:
    """The model's output ``[B, C, F, H, W]`` for latents ``hidden_states`` (sizes multiples
    of the patch), ``timestep`` ``[B]`` (``sigma * 1000``) or ``[B, F]``, text ``context``
    ``[B, L, text_dim]`` (already batched). ``call`` is published to the sampling pass's
    block hooks (SLG's skip pass); step caches (TeaCache, EasyCache) are refused."""
    tr = transformer
    if context_parallel.active() is not None:
        raise context_parallel.ContextParallelError("a Wan 2.2 S2V model does not run with --gpus yet: run on one GPU")
    sampling = active_pass(tr)
    if sampling is not None:
        if sampling.teacache is not None:
            raise ValueError("step caches (TeaCache, EasyCache, MagCache) are not supported with a Wan 2.2 S2V "
                             "model yet")
        sampling.call = call or ForwardOptions()
    batch, _, frames, height, width = hidden_states.shape
    p_t, p_h, p_w = tr.config.patch_size
    ppf, pph, ppw = frames // p_t, height // p_h, width // p_w
    head_dim = int(tr.config.attention_head_dim)
    device = hidden_states.device
    dtype = tr.patch_embedding.weight.dtype

    audio = None
    if inputs.audio is not None:
        skip = int(inputs.audio_skip_frames)
        feats = _batch(inputs.audio, batch)[..., :(frames + skip) * S2V_AUDIO_PER_LATENT]
        enc = tr.casual_audio_encoder
        audio = enc(feats.to(device, enc.weights.dtype))  # (global, local)
        if skip:
            audio = (audio[0][:, skip:], audio[1][:, skip:])

    x = tr.patch_embedding(hidden_states.to(dtype))
    if inputs.control is not None and getattr(tr, "cond_encoder", None) is not None:
        conv = tr.cond_encoder
        x = x + conv(_batch(inputs.control, batch).to(device, conv.weight.dtype)).to(x.dtype)
    x = x.flatten(2).transpose(1, 2)
    video_tokens = x.shape[1]
    kinds = tr.trainable_cond_mask.weight.to(device, x.dtype)
    x = x + kinds[0]
    positions = [grid_positions(torch.arange(ppf), torch.arange(pph), torch.arange(ppw))]
    t = timestep.to(device).float()
    t = t.view(-1, 1).expand(batch, ppf) if t.ndim == 1 else t.expand(batch, -1)

    if inputs.reference is not None:
        ref = _batch(inputs.reference, batch).to(device, dtype)
        r = tr.patch_embedding(ref)
        rf, rh, rw = r.shape[2:]
        kind = kinds[1] + kinds[0] if inputs.video_kind_on_reference else kinds[1]
        x = torch.cat([x, r.flatten(2).transpose(1, 2).to(x.dtype) + kind], dim=1)
        start = max(REF_FRAME_MIN, frames + REF_FRAME_GAP)
        positions.append(grid_positions(_span(start, rf, rf), torch.arange(rh), torch.arange(rw)))
        t = torch.cat([t, t.new_zeros(batch, ref.shape[2])], dim=1)

    if inputs.motion is not None:
        motion = _batch(inputs.motion, batch).to(device)
        tokens, grids = tr.frame_packer(motion)
        x = torch.cat([x, tokens.to(x.dtype) + kinds[2]], dim=1)
        m_rows, m_cols = (motion.shape[3] + p_h // 2) // p_h, (motion.shape[4] + p_w // 2) // p_w
        positions.append(motion_positions(grids, m_rows, m_cols))
        t = torch.cat([t.repeat_interleave(2, dim=1), t.new_zeros(batch, MOTION_TIMESTEP_ENTRIES)], dim=1)

    total = x.shape[1]
    temb, proj, context, _ = tr.condition_embedder(t.flatten(), context.to(device), None,
                                                   timestep_seq_len=t.shape[1])
    temb = spread(temb, total)
    proj = spread(proj.unflatten(2, (6, -1)), total)
    cos, sin = rope_tables(head_dim, torch.cat(positions, dim=0))
    rotary = (cos.to(device), sin.to(device))

    nag = call.nag if call is not None else None
    guided = contextlib.nullcontext() if nag is None else nag_cross_attention(
        tr.blocks, tr.condition_embedder.text_embedder(nag.context.to(context.device, context.dtype)), nag.params)
    with guided:
        for index, block in enumerate(tr.blocks):
            x = block(x, context, proj, rotary)
            if audio is not None:
                x = tr.audio_injector(x, index, audio[1], audio[0], video_tokens, float(inputs.audio_scale))

    # the head modulates every token by its own timestep; only the video's tokens are kept
    temb, x = temb[:, :video_tokens], x[:, :video_tokens]
    shift, scale = (tr.scale_shift_table.unsqueeze(0).to(temb.device) + temb.unsqueeze(2)).chunk(2, dim=2)
    shift, scale = shift.squeeze(2).to(x.device), scale.squeeze(2).to(x.device)
    x = tr.proj_out((tr.norm_out(x.float()) * (1 + scale) + shift).type_as(x))
    x = x.reshape(batch, ppf, pph, ppw, p_t, p_h, p_w, -1).permute(0, 7, 1, 4, 2, 5, 3, 6)
    return x.flatten(6, 7).flatten(4, 5).flatten(2, 3)
