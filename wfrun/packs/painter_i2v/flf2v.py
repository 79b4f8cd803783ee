"""PainterFLF2V (princepainter/Comfyui-PainterFLF2V, ``painter_flf2v_nodes.py``): ComfyUI's
WanFirstLastFrameToVideo with a "motion amplitude" that sharpens the concat latent's
departure from a straight fade between the two end frames.

The base is exactly the core node (same grey video with the start frames in front and the
end frames at the back, same mask, same latent from the VAE's own channels and stride, same
CLIP vision joining), so that core executor builds it (found in the executor registry:
packs do not import each other). Then, only with both images, ``length`` above 2 and
``motion_amplitude`` above 1.001, on the encoded concat latent ``L`` ``[B, C, T, h, w]``:

- the straight fade ``F_t = L_0 (1 - s_t) + L_{T-1} s_t`` with ``s`` evenly from 0 to 1 over
  the T latent frames, and ``D = L - F``;
- ``D``'s low frequencies: each ``h x w`` plane area-averaged down to ``h // 8 x w // 8``
  and scaled back up bilinearly (corners not aligned); the rest is its high frequencies;
- ``L + high(D) * 4 (motion_amplitude - 1)`` becomes the concat latent on both outputs.

A latent under 8 in height or width cannot be shrunk that way: the pack fails in its
interpolation there, wfrun refuses it by name (``height``/``width``). The pack's single
signature (2025-11-20) has not changed since.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from wfrun.nodes.conditioning import set_values
from wfrun.nodes.executor import ExecContext, NodeInputError, builtin_executor, executor

NODE = "PainterFLF2V"
#: The pack's low-pass factor and its boost per unit of amplitude above 1.
POOL = 8
BOOST = 4.0
#: Below this the pack leaves the latent as the core node makes it.
THRESHOLD = 1.001
#: The smallest width and height (px) the step takes with either Wan VAE (strides 8 and 16).
MIN_SIDE = POOL * 16


def high_frequencies(diff: torch.Tensor) -> torch.Tensor:
    """``diff`` less its low frequencies (each ``[h, w]`` plane pooled by :data:`POOL`)."""
    h, w = diff.shape[-2:]
    planes = diff.reshape(-1, 1, h, w)
    low = F.interpolate(F.interpolate(planes, size=(h // POOL, w // POOL), mode="area"), size=(h, w),
                        mode="bilinear")
    return diff - low.reshape(diff.shape)


def boost_motion(concat: torch.Tensor, amplitude: float) -> torch.Tensor:
    """The pack's step on the core node's concat latent (module docs)."""
    frames = concat.shape[2]
    s = torch.linspace(0.0, 1.0, frames, dtype=concat.dtype).view(1, 1, -1, 1, 1)
    fade = concat[:, :, :1] * (1 - s) + concat[:, :, -1:] * s
    return concat + high_frequencies(concat - fade) * ((amplitude - 1.0) * BOOST)


@executor(NODE)
def painter_flf2v(ctx: ExecContext, positive: Any, negative: Any, vae: Any, width: Any, height: Any, length: Any,
                  batch_size: Any, motion_amplitude: Any, clip_vision_start_image: Any = None,
                  clip_vision_end_image: Any = None, start_image: torch.Tensor | None = None,
                  end_image: torch.Tensor | None = None, **_: Any) -> tuple:
    try:
        positive, negative, latent = builtin_executor("WanFirstLastFrameToVideo", "vae")(
            ctx, positive=positive, negative=negative, vae=vae, width=width, height=height, length=length,
            batch_size=batch_size, clip_vision_start_image=clip_vision_start_image,
            clip_vision_end_image=clip_vision_end_image, start_image=start_image, end_image=end_image)
    except NodeInputError as err:
        if err.input_name != "clip_vision_output":
            raise
        raise NodeInputError("clip_vision_start_image", str(err), err.hint) from None
    amplitude = float(motion_amplitude)
    if start_image is None or end_image is None or int(length) <= 2 or amplitude <= THRESHOLD:
        return (positive, negative, latent)
    entries = positive or negative
    if not entries:
        return (positive, negative, latent)
    concat = entries[0][1]["concat_latent_image"]
    h, w = concat.shape[-2:]
    if h < POOL or w < POOL:
        name = "height" if h < POOL else "width"
        raise NodeInputError(name, f"{NODE}'s motion step needs a latent of at least {POOL}x{POOL}; this one is "
                             f"{h}x{w}", "make the video larger, or set motion_amplitude to 1")
    boosted = boost_motion(concat, amplitude)
    positive = set_values(positive, {"concat_latent_image": boosted}, input_name="positive")
    negative = set_values(negative, {"concat_latent_image": boosted}, input_name="negative")
    return (positive, negative, latent)
