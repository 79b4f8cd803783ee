"""VAE encode/decode: a bar tick per chunk, and Ctrl-C stops within a chunk.

The expected chunk counts are the Wan VAE's causal layout (the first frame, then 4 frames
per latent frame; decode one latent frame at a time), times the tiles of the tiled path;
the ticks themselves are counted on the VAE's decoder/encoder calls, so a wrong total or a
missed hook shows up here.
"""

from __future__ import annotations

import pytest
import torch

from node_helpers import node
from wfrun.engine.progress import QuietProgress
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext
from wfrun.engine.executors import get_executor


@pytest.fixture(scope="module")
def vae(tiny_models):
    ctx = ExecContext(models=ModelRoots.from_options(tiny_models))
    return node("WanVideoVAELoader")(ctx, model_name="Wan2_1_VAE_tiny_fp32.safetensors", precision="fp32")[0]


def frames(n: int, h: int = 16, w: int = 32) -> torch.Tensor:
    return torch.rand(n, h, w, 3, generator=torch.Generator().manual_seed(n))


def test_encode_and_decode_tick_once_per_chunk(vae):
    progress = QuietProgress()
    ctx = ExecContext(progress=progress)
    (latents,) = node("WanVideoEncode")(ctx, vae=vae, image=frames(9))
    assert progress.chunk_bars == [["VAE encode", 1 + 8 // 4, 1 + 8 // 4]]
    node("WanVideoDecode")(ctx, vae=vae, samples=latents)
    assert progress.chunk_bars[1] == ["VAE decode", 3, 3]
    # a looped video decodes its seam too: 5 latents more (the last 3 and the first 2)
    node("WanVideoDecode")(ctx, vae=vae, samples={**latents, "looped": True})
    assert progress.chunk_bars[2:] == [["VAE decode", 3, 3], ["VAE decode (loop seam)", 5, 5]]
    assert progress.step_counts == []  # sampler steps stay apart (benchmarks read them)


def test_tiled_decode_ticks_per_tile_and_frame(vae):
    progress = QuietProgress()
    ctx = ExecContext(progress=progress)
    latents = {"samples": torch.randn(1, 16, 2, 6, 10, generator=torch.Generator().manual_seed(0))}
    hooks = list(vae.vae.decoder._forward_hooks)
    node("WanVideoDecode")(ctx, vae=vae, samples=latents, enable_vae_tiling=True, tile_x=40, tile_y=40,
                                   tile_stride_x=32, tile_stride_y=32)
    # latent tiles of 5 every 4: rows at 0, 4 of 6, columns at 0, 4, 8 of 10 → 6 tiles × 2 frames
    assert progress.chunk_bars == [["VAE decode", 12, 12]]
    assert list(vae.vae.decoder._forward_hooks) == hooks  # the hooks are gone again


def test_i2v_encode_reports_its_chunks(vae):
    progress = QuietProgress()
    ctx = ExecContext(progress=progress)
    node("WanVideoImageToVideoEncode")(ctx, vae=vae, width=32, height=16, num_frames=9, start_image=frames(1),
                                               end_image=frames(1), fun_or_fl2v_model=False)
    # end-frame mode: 9 frames encoded as usual (3 chunks), the end frame alone (1 chunk)
    assert progress.chunk_bars == [["VAE encode", 4, 4]]


class InterruptAfterFirstChunk(QuietProgress):
    """Ctrl-C arrives while the first chunk is being decoded."""

    def __init__(self, ctx: ExecContext):
        super().__init__()
        self.ctx = ctx

    def chunks(self, total: int, description: str):
        bar = super().chunks(total, description)
        ctx = self.ctx

        class Bar:
            def update(self, n: int = 1) -> None:
                bar.update(n)
                ctx.interrupted = True

            def close(self) -> None:
                bar.close()

        return Bar()


@pytest.mark.parametrize("class_type", ["WanVideoDecode", "WanVideoEncode"])
def test_ctrl_c_stops_within_one_chunk(vae, class_type):
    ctx = ExecContext()
    ctx.progress = InterruptAfterFirstChunk(ctx)
    module = vae.vae.decoder if class_type == "WanVideoDecode" else vae.vae.encoder
    pre_hooks, hooks = list(module._forward_pre_hooks), list(module._forward_hooks)
    calls: list = []
    counter = module.register_forward_hook(lambda *_: calls.append(1))
    inputs = ({"samples": {"samples": torch.randn(1, 16, 6, 2, 4)}} if class_type == "WanVideoDecode"
              else {"image": frames(21)})
    try:
        with pytest.raises(KeyboardInterrupt):
            node(class_type)(ctx, vae=vae, **inputs)
    finally:
        counter.remove()
    assert len(calls) == 1  # one chunk of 6, not the whole video
    assert ctx.progress.chunk_bars[0][1:] == [6, 1]
    # the hooks are gone again
    assert (list(module._forward_pre_hooks), list(module._forward_hooks)) == (pre_hooks, hooks)
