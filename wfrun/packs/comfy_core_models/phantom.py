"""ComfyUI's WanPhantomSubjectToVideo (``comfy_extras/nodes_wan.py``): Phantom subject images
for a Wan text-to-video model (Phantom-Wan).

Each image (at most ``length``) is resized to the video (bilinear, centre crop) and encoded
alone, one latent frame each; the frames go into ``time_dim_concat``, which the sampler
puts after the video's frames for every model call (:mod:`.model_input`). Three
conditionings come out: ``positive`` and ``negative_text`` with the subjects, and
``negative_img_text`` with latent-mean frames in their place (the negative without them,
for Phantom's second negative pass). The latent is empty, the subjects not in it.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.media.image import upscale_image
from wfrun.nodes.conditioning import set_values
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.comfy_core_models.latent_format import latent_format
from wfrun.packs.comfy_core_models.latent_nodes import latent_frames
from wfrun.packs.comfy_core_models.types import WanVAE
from wfrun.packs.comfy_core_models.vae_nodes import check_vae, encode_images


@executor("WanPhantomSubjectToVideo")
def wan_phantom_subject_to_video(ctx: ExecContext, positive: Any, negative: Any, vae: WanVAE, width: int,
                                 height: int, length: int, batch_size: int, images: Any = None, **_: Any) -> tuple:
    width, height, length = int(width), int(height), int(length)
    latent = torch.zeros(int(batch_size), 16, latent_frames(length), height // 8, width // 8)
    negative_text = negative
    if images is not None:
        vae = check_vae(vae)
        if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[0] == 0:
            raise NodeInputError("images", "expected an IMAGE batch [frames, height, width, 3]")
        fitted = upscale_image(images[:length].float(), width, height, "bilinear", "center")
        subjects = torch.cat([encode_images(ctx, vae, frame[None, ..., :3]) for frame in fitted], dim=2)
        blank = latent_format(16).process_out(torch.zeros_like(subjects))
        positive = set_values(positive, {"time_dim_concat": subjects}, input_name="positive")
        negative_text = set_values(negative, {"time_dim_concat": subjects}, input_name="negative")
        negative = set_values(negative, {"time_dim_concat": blank}, input_name="negative")
    return (positive, negative_text, negative, {"samples": latent})
