"""WanVideoModelLoader_2frames, WanVideoVAELoader_2frames, LoadWanVideoClipTextEncoder_2frames.

The fork copied these three loaders from Kijai's WanVideoWrapper of mid-March 2025 with the
same inputs: the model loader reads the same original-layout Wan checkpoints, the VAE loader
the same ``Wan2_1_VAE`` weights (into the fork's own VAE class, whose plain encode/decode
are the official Wan VAE), the CLIP loader Wan's open-clip XLM-RoBERTa ViT-H file from
``text_encoders``. So each runs the wrapper's executor of the same name, found in the
executor registry; the values they make (WANVIDEOMODEL, WANVAE, CLIP_VISION) are the
wrapper's, which the rest of this pack reads.
"""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, builtin_executor, executor


def wrapper(class_type: str) -> Any:
    """The WanVideoWrapper executor ``class_type`` (part of wfrun; only a broken install lacks it)."""
    return builtin_executor(class_type, "model")


@executor("WanVideoModelLoader_2frames", background=True)
def model_loader_2frames(ctx: ExecContext, **inputs: Any) -> tuple:
    return wrapper("WanVideoModelLoader")(ctx, **inputs)


@executor("WanVideoVAELoader_2frames", background=True)
def vae_loader_2frames(ctx: ExecContext, **inputs: Any) -> tuple:
    return wrapper("WanVideoVAELoader")(ctx, **inputs)


@executor("LoadWanVideoClipTextEncoder_2frames", background=True)
def clip_loader_2frames(ctx: ExecContext, **inputs: Any) -> tuple:
    return wrapper("LoadWanVideoClipTextEncoder")(ctx, **inputs)
