"""The wrapper's Uni3C nodes (``uni3c/nodes.py``, 2025-05-26 on): WanVideoUni3C_ControlnetLoader
and WanVideoUni3C_embeds. The controlnet is ``models.uni3c``; the sampler runs it
(``sampling.uni3c``) when its ``uni3c_embeds`` input is connected.

- The loader reads the file from the ``controlnet`` folder, weights in ``base_precision``
  (the patch embedding in float32, as the pack), where ``load_device`` says. Differences:
  ``quantization`` (fp8 storage) is not applied — the controlnet (20 blocks 1024 wide) is
  small beside the 14B model and stays in ``base_precision``; ``attention_mode`` is PyTorch SDPA whatever it says
  (``sageattn`` is a speed choice); ``compile_args`` are not used.
- The embeds carry the render latents (WanVideoEncode of the point-cloud render; a batch
  of one) with ``strength`` and the step window. ``render_mask`` raises, as in the pack
  ("not implemented"). Since 2025-12-17 the node has an ``offload`` switch (the controlnet
  back to the offload device after each call): wfrun moves it for the whole pass instead,
  so the switch changes nothing here.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.models.header import CheckpointError
from wfrun.models.uni3c import load_uni3c
from wfrun.models import placement
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.models import loading_error, resolve
from wfrun.sampling.uni3c import Uni3CEmbeds

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@executor("WanVideoUni3C_ControlnetLoader", background=True)
def uni3c_controlnet_loader(ctx: ExecContext, model: str, base_precision: str, quantization: str, load_device: str,
                            attention_mode: str, compile_args: Any = None, **_: Any) -> tuple:
    if base_precision not in PRECISIONS:
        raise NodeInputError("base_precision", f"unknown precision {base_precision!r}",
                             f"use one of {', '.join(PRECISIONS)}")
    path = resolve(ctx, "controlnet", model, "model", source="huggingface.co/Kijai/WanVideo_comfy")
    try:
        net = load_uni3c(path, dtype=PRECISIONS[base_precision])
    except (CheckpointError, ValueError) as err:
        raise loading_error("model", err) from None
    return (net.to(placement.node_device(load_device, ctx)),)


@executor("WanVideoUni3C_embeds")
def uni3c_embeds(ctx: ExecContext, controlnet: Any, render_latent: Any, strength: float, start_percent: float,
                 end_percent: float, render_mask: Any = None, **_: Any) -> tuple:
    if render_mask is not None:
        raise NodeInputError("render_mask", "render_mask is not implemented (nor in the pack)", "disconnect it")
    if not hasattr(controlnet, "config") or not hasattr(controlnet.config, "render_channels"):
        raise NodeInputError("controlnet", f"expected WANVIDEOCONTROLNET, got {type(controlnet).__name__}",
                             "connect WanVideoUni3C_ControlnetLoader")
    samples = render_latent.get("samples") if isinstance(render_latent, dict) else None
    if not isinstance(samples, torch.Tensor) or samples.ndim != 5 or samples.shape[0] != 1:
        raise NodeInputError("render_latent", "expected the LATENT of one encoded video ([1, 16, T, H/8, W/8])",
                             "connect WanVideoEncode of the rendered video")
    return (Uni3CEmbeds(controlnet=controlnet, render_latent=samples.float(), strength=float(strength),
                        start_percent=float(start_percent), end_percent=float(end_percent)),)
