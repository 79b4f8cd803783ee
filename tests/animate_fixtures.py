"""The tiny Wan 2.2 Animate transformer in Kijai's layout, with the node context and tiny VAE
that the wrapper's Animate tests (WanVideoAnimateEmbeds, WanVideoEverAnimateEmbeds) share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.node_helpers import node
from wfrun.models.paths import ModelRoots
from wfrun.models.tiny import TinySpec, write_file
from wfrun.nodes.executor import ExecContext

KIJAI = TinySpec("diffusion_models", "Wan2_2-Animate-14B_tiny_fp8_e4m3fn_scaled_KJ.safetensors", "wan_transformer",
                 "animate-14b", "original", "fp32")


def animate_context(tiny_models: Path) -> ExecContext:
    """A node context over ``tiny_models`` with the tiny Animate file written there."""
    write_file(KIJAI, tiny_models)
    return ExecContext(models=ModelRoots.from_options(tiny_models))


def tiny_vae(ctx: ExecContext) -> Any:
    return node("WanVideoVAELoader")(ctx, model_name="Wan2_1_VAE_tiny_fp32.safetensors", precision="fp32")[0]
