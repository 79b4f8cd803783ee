"""Uni3C in WanVideoSampler (ComfyUI-WanVideoWrapper, 2025-05-26 on: ``uni3c_embeds``, the
model's ``pcd_data``), as hooks attached to diffusers' transformer for one sampling pass.

In every transformer call inside the embeds' step window (``start <= pct <= end``, and
step 0 when ``end > 0``), cond and uncond alike:

1. the controlnet's input is the model input's first channels (noisy latents and, for
   I2V, the mask: ``in_channels - 16`` of them, 20 for the release) of the *first* batch
   entry, followed by the render latents (a context window's frames of them when the
   render covers the whole video);
2. the controlnet runs with the call's time embedding ``temb`` (before the modulation
   projection) and returns one state per layer;
3. after transformer block ``b`` (for ``b`` below the controlnet's layers) the block's
   output gets ``state_b · strength``; a block skip-layer guidance skips gets nothing
   (the pack ``continue``s before the addition). A step a step cache (TeaCache, MagCache,
   EasyCache) skips runs no blocks and no controlnet.

Hooks: the patch embedding's pre-hook keeps the call's input, the condition embedder's
hook its ``temb``, block 0's pre-hook runs the controlnet, each block's hook adds its
state. The render latents of the call come from ``ForwardOptions.uni3c`` (set by the loop;
None outside the window). Differences: per-frame timesteps (a ``[B, F]`` temb) and
``--gpus`` are refused (the pack's controlnet takes one time embedding per batch entry, and
its states cover the whole sequence); a Fun reference image (``ref_conv`` tokens in front)
with Uni3C is refused: the pack adds the states to the first tokens, reference included.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Iterator

import torch

from wfrun.models import module_hooks
from wfrun.sampling import context_parallel
from wfrun.sampling.hooks import SLG, active_pass


class Uni3CError(ValueError):
    """Uni3C embeds that cannot condition this model or video."""


@dataclass(frozen=True)
class Uni3CEmbeds:
    """UNI3C_EMBEDS of WanVideoUni3C_embeds: the controlnet (``models.uni3c``), the render
    latents ``[1, 16, T, H/8, W/8]``, their strength and step window."""

    controlnet: Any
    render_latent: torch.Tensor
    strength: float = 1.0
    start_percent: float = 0.0
    end_percent: float = 1.0


def in_window(embeds: Uni3CEmbeds, pct: float, idx: int) -> bool:
    start, end = float(embeds.start_percent), float(embeds.end_percent)
    return (start <= pct <= end) or (end > 0 and idx == 0 and pct >= start)


def render_for(embeds: Uni3CEmbeds | None, pct: float, idx: int, window: list[int] | None = None
               ) -> torch.Tensor | None:
    """The render latents this step's calls give the controlnet (None outside the window):
    the whole video's, or a context window's frames when the render is longer than it."""
    if embeds is None or not in_window(embeds, pct, idx):
        return None
    render = embeds.render_latent
    if window is not None and render.shape[2] != len(window):
        render = render[:, :, window]
    return render


def check(transformer: Any, embeds: Uni3CEmbeds, noise: torch.Tensor, window_frames: int | None,
          has_reference: bool) -> None:
    """The controlnet must fit the model, and the render latents the video (or each window)."""
    net = embeds.controlnet
    config = getattr(net, "config", None)
    dim = int(transformer.config.num_attention_heads * transformer.config.attention_head_dim)
    if config is None:
        raise Uni3CError(f"expected a Uni3C controlnet (WanVideoUni3C_ControlnetLoader), got {type(net).__name__}")
    if config.out_dim != dim or config.time_embed_dim != dim:
        raise Uni3CError(f"the Uni3C controlnet is made for a {config.out_dim}-wide model, this one is {dim} wide "
                         "(the released controlnet is for the 14B models)")
    main = config.in_channels - config.render_channels
    if main > int(transformer.config.in_channels):
        raise Uni3CError(f"the Uni3C controlnet reads {main} of the model's input channels, the model has "
                         f"{transformer.config.in_channels} (it is made for image-to-video models)")
    render = embeds.render_latent
    if render.ndim != 5 or render.shape[1] != config.render_channels or tuple(render.shape[3:]) != tuple(noise.shape[2:]):
        raise Uni3CError(f"render latents of shape {tuple(render.shape)} for a video of latents {tuple(noise.shape)}: "
                         "encode the rendered video at the video's size")
    if render.shape[2] != noise.shape[1] and render.shape[2] != window_frames:
        raise Uni3CError(f"render latents of {render.shape[2]} frames for a video of {noise.shape[1]} latent frames: "
                         "render as many frames as the video")
    if has_reference:
        raise Uni3CError("Uni3C together with a Fun reference image is not supported (the pack adds the "
                         "controlnet's states over the reference tokens)")


class _Pass:
    """One pass's state: the running call's input and time embedding, its states."""

    def __init__(self, transformer: Any, embeds: Uni3CEmbeds):
        self.transformer = transformer
        self.embeds = embeds
        self.hidden: torch.Tensor | None = None
        self.temb: torch.Tensor | None = None
        self.states: list[torch.Tensor] | None = None

    def keep_input(self, _module: Any, args: tuple) -> None:
        self.hidden = args[0]
        self.states = None

    def keep_temb(self, _module: Any, _args: tuple, out: Any) -> None:
        self.temb = out[0]

    def run(self, _module: Any, args: tuple) -> None:
        sampling = active_pass(self.transformer)
        call = sampling.call if sampling is not None else None
        render = getattr(call, "uni3c", None)
        self.states = None
        if render is None:
            return
        if context_parallel.active() is not None:
            raise context_parallel.ContextParallelError("Uni3C is not supported with --gpus: run on one GPU")
        if self.temb is None or self.temb.ndim != 2:
            raise Uni3CError("Uni3C with per-frame timesteps is not supported (the controlnet takes one time "
                             "embedding per video)")
        net = self.embeds.controlnet
        main = net.config.in_channels - net.config.render_channels
        latents = torch.cat([self.hidden[:1, :main].float(), render.to(self.hidden.device, torch.float32)], dim=1)
        self.states = net(latents, self.temb)

    def add(self, index: int):
        def hook(block: Any, _args: tuple, out: torch.Tensor) -> torch.Tensor:
            states = self.states
            if states is None or index >= len(states):
                return out
            slg = module_hooks.find(block, SLG)
            if slg is not None and slg.skips():
                return out
            return out + states[index].to(out.device, out.dtype) * float(self.embeds.strength)
        return hook


@contextlib.contextmanager
def uni3c_pass(transformer: Any, embeds: Uni3CEmbeds | None) -> Iterator[None]:
    """While open, the calls of the pass whose ``ForwardOptions.uni3c`` is set get the
    controlnet's states (see the module docs). The controlnet sits on the transformer's
    device for the pass and goes back where it was after."""
    if embeds is None:
        yield
        return
    state = _Pass(transformer, embeds)
    net = embeds.controlnet
    home = next(net.parameters()).device
    device = next(transformer.patch_embedding.parameters()).device
    handles = [transformer.patch_embedding.register_forward_pre_hook(state.keep_input),
               transformer.condition_embedder.register_forward_hook(state.keep_temb),
               transformer.blocks[0].register_forward_pre_hook(state.run)]
    handles += [block.register_forward_hook(state.add(i)) for i, block in enumerate(transformer.blocks)]
    try:
        net.to(device)
        yield
    finally:
        for handle in handles:
            handle.remove()
        net.to(home)
