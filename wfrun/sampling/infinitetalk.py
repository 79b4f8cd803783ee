"""InfiniteTalk / MultiTalk audio attention during one sampling pass (ComfyUI's
``MultiTalkCrossAttnPatch``, ``MultiTalkGetAttnMapPatch``, ``MultiTalkApplyModelWrapper`` and
``InfiniteTalkOuterSampleWrapper`` in ``comfy/ldm/wan/model_multitalk.py``).

``WanInfiniteTalkToVideo`` puts an :class:`InfiniteTalk` on the MODEL; the core sampler
(``packs/comfy_core_models/ksampler_nodes.py``) then, for its pass only:

- attaches :func:`audio_attention`'s hooks to the diffusers transformer: after each main
  block's text cross-attention the block's hidden states ``x`` get
  ``audio_scale x blocks[i](x)`` of the patch (``audio_cross_attn(norm_x(x))``: each latent
  frame's tokens attend to that frame's audio tokens). diffusers' block adds the
  cross-attention output to ``x`` itself, so the hooks wrap ``attn2`` and return its output
  plus the audio term (the sum is the same); the ``x`` before it comes from a hook on
  ``norm2``, whose input it is. The latent grid of the call comes from a hook on
  ``patch_embedding``. With two speakers a hook on ``attn1`` computes the block's reference
  map from its queries and keys (recomputed from ``attn1``'s input: the projections, q/k
  norms and RoPE of diffusers' processor; only the first frame's keys are needed);
- replaces, in every model call, the first latent frames of the model's input with the
  motion latent (:meth:`InfiniteTalk.model_input`: the start image's first latent frame,
  or the encoded motion frames when extending), where the CFG denoiser turns ``x`` into the
  model's input and its output into x0 (as ComfyUI's APPLY_MODEL wrapper does: the
  sampler's own ``x`` is untouched);
- when extending, puts the motion latent back in front of the result
  (:meth:`InfiniteTalk.finish`).

Refused where wfrun cannot run it as ComfyUI would: a token count other than the latent
grid's (a reference latent), context windows (ComfyUI hands the whole video's audio to each
window) and ``--gpus`` (each rank holds a share of a frame's tokens).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import torch
from diffusers.hooks import ModelHook
from torch import nn

from wfrun.models import module_hooks
from wfrun.models.multitalk import reference_map, speaker_positions
from wfrun.sampling import context_parallel
from wfrun.models.rope import apply_rotary

class InfiniteTalkError(ValueError):
    """A model call the audio attention cannot serve (the sampler names the MODEL input)."""


GRID = "wfrun.infinitetalk.grid"
INPUT = "wfrun.infinitetalk.input"
AUDIO = "wfrun.infinitetalk.audio"
MAP = "wfrun.infinitetalk.map"


@dataclass(frozen=True)
class InfiniteTalk:
    """What ``WanInfiniteTalkToVideo`` attaches to a MODEL.

    ``module``: the patch (``models.multitalk.MultiTalkModule``); ``scale``: ``audio_scale``;
    ``audio``: the audio tokens ``[1, latent frames, 32 x speakers, width]`` in the model's
    dtype; ``masks``: two speakers' masks over the first frame's tokens
    ``[2, h/2 x w/2]`` (bool), or None; ``motion``: the raw latent pinned at the start of
    every model input ``[1, C, k, h, w]``, or None; ``extend``: put it back in front of the
    result (``previous_frames`` given)."""

    module: Any
    scale: float
    audio: torch.Tensor
    masks: torch.Tensor | None = None
    motion: torch.Tensor | None = None
    extend: bool = False

    def model_input(self, process_in: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """``x -> x'`` for the CFG denoiser: ``x`` with its first frames replaced by the
        motion latent brought into the model's latent space (``process_in``); a copy."""
        if self.motion is None:
            return None
        pinned = process_in(self.motion.float())

        def replace(x: torch.Tensor) -> torch.Tensor:
            out = x.clone()
            frames = min(pinned.shape[2], out.shape[2])
            out[:, :, :frames] = pinned[:, :, :frames].to(out)
            return out

        return replace

    def finish(self, latent: torch.Tensor) -> torch.Tensor:
        """The sampled raw latent; when extending, its first frames are the motion latent's."""
        if not self.extend or self.motion is None:
            return latent
        overlap = self.motion.shape[2]
        return torch.cat([self.motion.to(latent), latent[:, :, overlap:]], dim=2)


class _Grid(ModelHook):
    """On ``patch_embedding``: the latent grid (frames, h, w in patches) of the running call."""

    def __init__(self) -> None:
        super().__init__()
        self.grid: tuple[int, int, int] | None = None

    def post_forward(self, module: nn.Module, output: Any) -> Any:
        if context_parallel.active() is not None:
            raise context_parallel.ContextParallelError(
                "InfiniteTalk's audio attention is not supported with --gpus (each latent frame's tokens attend to "
                "their audio tokens): run on one GPU")
        self.grid = tuple(int(n) for n in output.shape[2:5])
        return output


class _BlockInput(ModelHook):
    """On a block's ``norm2``: its input, the hidden states before the text cross-attention."""

    def __init__(self) -> None:
        super().__init__()
        self.x: torch.Tensor | None = None

    def pre_forward(self, module: nn.Module, *args: Any, **kwargs: Any):
        self.x = args[0] if args else kwargs.get("hidden_states", kwargs.get("input"))
        return args, kwargs


class _ReferenceMap(ModelHook):
    """On a block's ``attn1`` (two speakers): the block's reference map, from its queries and
    the first latent frame's keys as diffusers' self-attention makes them (only in calls
    whose audio has several speakers)."""

    def __init__(self, grid: _Grid, masks: torch.Tensor, source: Callable[[], Any]):
        super().__init__()
        self.grid_hook = grid
        self.masks = masks
        self.source = source
        self.map: torch.Tensor | None = None

    def pre_forward(self, module: nn.Module, *args: Any, **kwargs: Any):
        talk = self.source()
        if talk is None or getattr(talk, "speakers", 2) < 2:
            self.map = None
            return args, kwargs
        hidden = args[0] if args else kwargs["hidden_states"]
        rotary = args[3] if len(args) > 3 else kwargs.get("rotary_emb")
        self.map = self.compute(module, hidden, rotary)
        return args, kwargs

    def compute(self, attn: Any, hidden: torch.Tensor, rotary: Any) -> torch.Tensor:
        grid = self.grid_hook.grid
        per_frame = grid[1] * grid[2]
        if getattr(attn, "fused_projections", False):
            from diffusers.models.transformers.transformer_wan import _get_qkv_projections

            query, key, _ = _get_qkv_projections(attn, hidden, None)
            key = key[:, :per_frame]
        else:
            query, key = attn.to_q(hidden), attn.to_k(hidden[:, :per_frame])
        query = attn.norm_q(query).unflatten(2, (attn.heads, -1))
        key = attn.norm_k(key).unflatten(2, (attn.heads, -1))
        if rotary is not None:
            cos, sin = rotary
            query = apply_rotary(query, cos, sin)
            key = apply_rotary(key, cos[:, :per_frame], sin[:, :per_frame])
        return reference_map(query, key, per_frame, self.masks)


class _AudioAttention(ModelHook):
    """On a block's ``attn2``: its output plus ``scale x patch_block(x + output)``, so that
    the block's ``x + attn2(...)`` is ComfyUI's ``x + cross_attn(...)`` followed by the
    ``attn2_patch``."""

    def __init__(self, block: Any, source: Callable[[], Any], grid: _Grid, before: _BlockInput,
                 reference: _ReferenceMap | None, eps: float | None = None):
        super().__init__()
        self.block = block
        self.source = source
        self.grid_hook = grid
        self.before = before
        self.reference = reference
        self.eps = eps

    def post_forward(self, module: nn.Module, output: Any) -> Any:
        talk = self.source()
        if talk is None:  # a call without audio
            self.before.x = None
            return output
        grid = self.grid_hook.grid
        x = self.before.x
        if grid is None or x is None:
            raise RuntimeError("InfiniteTalk's audio attention ran outside a transformer forward")
        x = x.to(output.dtype) + output
        positions = None
        speakers = int(getattr(talk, "speakers", 2))
        if self.reference is not None and self.reference.map is not None:
            positions = speaker_positions(self.reference.map, speakers)
            self.reference.map = None
        audio = talk.audio[0]
        if audio.shape[0] != grid[0]:
            raise InfiniteTalkError(f"InfiniteTalk's audio covers {audio.shape[0]} latent frames; the model was called "
                                    f"with {grid[0]} (a latent of another length than the node's)")
        try:
            added = self.block(x, audio, grid, positions, speakers, self.eps)
        except ValueError as err:  # a token count other than the grid's (a reference latent)
            raise InfiniteTalkError(f"InfiniteTalk's audio attention: {err}") from None
        self.before.x = None
        return output + added * talk.scale


@contextlib.contextmanager
def audio_attention(transformer: Any, talk: Any, source: Callable[[], Any] | None = None,
                    eps: float | None = None) -> Iterator[None]:
    """Attach the audio hooks for one pass (nothing when ``talk`` is None); removed on exit,
    also when the pass raises. ``talk`` gives the patch (``module``) and the speakers' masks
    (``masks``, or None); ``source()`` the running call's audio (``audio``, ``scale`` and
    ``speakers``, or None for a call without audio; default: ``talk`` itself, ComfyUI's one
    audio for the pass). ``eps``: ``norm_x``'s epsilon where it is not the patch's."""
    if talk is None:
        yield
        return
    if source is None:
        def source() -> Any:
            return talk
    blocks = list(transformer.blocks)
    patch_blocks = list(talk.module.blocks)
    if len(patch_blocks) < len(blocks):
        raise ValueError(f"the InfiniteTalk patch has {len(patch_blocks)} blocks; the model has {len(blocks)}")
    attached: list[tuple[Any, str]] = []
    try:
        grid = module_hooks.attach(transformer.patch_embedding, GRID, _Grid())
        attached.append((transformer.patch_embedding, GRID))
        for block, patch_block in zip(blocks, patch_blocks):
            before = module_hooks.attach(block.norm2, INPUT, _BlockInput())
            attached.append((block.norm2, INPUT))
            reference = None
            if talk.masks is not None:
                reference = module_hooks.attach(block.attn1, MAP, _ReferenceMap(grid, talk.masks, source))
                attached.append((block.attn1, MAP))
            module_hooks.attach(block.attn2, AUDIO, _AudioAttention(patch_block, source, grid, before, reference, eps))
            attached.append((block.attn2, AUDIO))
        yield
    finally:
        for module, name in reversed(attached):
            module_hooks.detach(module, name)
