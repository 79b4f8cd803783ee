"""PainterFLF2V (princepainter/Comfyui-PainterFLF2V) against independent references: ComfyUI's
WanFirstLastFrameToVideo where the node reduces to it (amplitude 1, or one image only), and
the pack's motion step re-derived by hand (a straight fade between the end latents; 8x8
block means scaled back up by bilinear interpolation written out point by point)."""

from __future__ import annotations

import math

import pytest
import torch

from tests.node_helpers import empty_text, node
from wfrun.nodes.executor import NodeInputError
from wfrun.packs.comfy_core_models.types import ClipVisionOutput


def images(size: int):
    g = torch.Generator().manual_seed(11)
    return torch.rand(1, size, size, 3, generator=g), torch.rand(1, size, size, 3, generator=g)


def hand_upsample(small: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Bilinear scaling of a ``[sh, sw]`` plane to ``[h, w]``, half-pixel centres, edges held."""
    sh, sw = small.shape
    out = torch.empty(h, w)

    def source(i: int, n: int, sn: int) -> tuple[int, int, float]:
        x = max((i + 0.5) * sn / n - 0.5, 0.0)
        lo = min(int(math.floor(x)), sn - 1)
        return lo, min(lo + 1, sn - 1), x - lo

    for i in range(h):
        y0, y1, fy = source(i, h, sh)
        for j in range(w):
            x0, x1, fx = source(j, w, sw)
            top = small[y0, x0] * (1 - fx) + small[y0, x1] * fx
            bottom = small[y1, x0] * (1 - fx) + small[y1, x1] * fx
            out[i, j] = top * (1 - fy) + bottom * fy
    return out


def hand_boost(latent: torch.Tensor, amplitude: float) -> torch.Tensor:
    """The pack's step for latents whose sides are multiples of 8."""
    b, c, t, h, w = latent.shape
    out = latent.clone()
    for bi in range(b):
        for ci in range(c):
            for ti in range(t):
                s = ti / (t - 1)
                d = latent[bi, ci, ti] - (latent[bi, ci, 0] * (1 - s) + latent[bi, ci, -1] * s)
                blocks = d.reshape(h // 8, 8, w // 8, 8).mean(dim=(1, 3))
                out[bi, ci, ti] += (d - hand_upsample(blocks, h, w)) * (amplitude - 1) * 4
    return out


def test_the_motion_step_matches_the_pack_formula(ctx, vae):
    first, last = images(128)
    common = dict(positive=empty_text(), negative=empty_text(), vae=vae, width=128, height=128, length=9, batch_size=1,
                  start_image=first, end_image=last)
    pos, neg, latent = node("PainterFLF2V")(ctx, motion_amplitude=1.6, **common)
    core_pos, _, core_latent = node("WanFirstLastFrameToVideo")(ctx, **common)
    base = core_pos[0][1]["concat_latent_image"]
    assert base.shape[-2:] == (16, 16)
    want = hand_boost(base, 1.6)
    assert not torch.allclose(want, base, atol=1e-3)
    for cond in (pos, neg):
        torch.testing.assert_close(cond[0][1]["concat_latent_image"], want, atol=2e-3, rtol=0)
        torch.testing.assert_close(cond[0][1]["concat_mask"], core_pos[0][1]["concat_mask"])
    torch.testing.assert_close(latent["samples"], core_latent["samples"])


@pytest.mark.parametrize("amplitude, both", [(1.0, True), (1.001, True), (1.8, False)])
def test_without_the_step_it_is_the_core_node(ctx, vae, amplitude, both):
    first, last = images(32)
    clip = ClipVisionOutput(torch.rand(1, 257, 1280))
    common = dict(positive=empty_text(), negative=empty_text(), vae=vae, width=32, height=32, length=9, batch_size=1,
                  start_image=first, end_image=last if both else None, clip_vision_start_image=clip,
                  clip_vision_end_image=clip)
    pos, neg, _ = node("PainterFLF2V")(ctx, motion_amplitude=amplitude, **common)
    core_pos, core_neg, _ = node("WanFirstLastFrameToVideo")(ctx, **common)
    for got, want in ((pos, core_pos), (neg, core_neg)):
        torch.testing.assert_close(got[0][1]["concat_latent_image"], want[0][1]["concat_latent_image"], atol=2e-3,
                                   rtol=0)
        torch.testing.assert_close(got[0][1]["clip_vision_output"].penultimate_hidden_states,
                                   want[0][1]["clip_vision_output"].penultimate_hidden_states)


def test_a_latent_too_small_for_the_step_is_refused(ctx, vae):
    first, last = images(32)
    with pytest.raises(NodeInputError) as err:
        node("PainterFLF2V")(ctx, positive=empty_text(), negative=empty_text(), vae=vae, width=64, height=32, length=9,
                             batch_size=1, motion_amplitude=1.5, start_image=first, end_image=last)
    assert err.value.input_name == "height"


def test_a_wrong_start_clip_is_refused_under_its_own_name(ctx, vae):
    with pytest.raises(NodeInputError) as err:
        node("PainterFLF2V")(ctx, positive=empty_text(), negative=empty_text(), vae=vae, width=32, height=32, length=5,
                             batch_size=1, clip_vision_start_image="not a clip vision output")
    assert err.value.input_name == "clip_vision_start_image"
