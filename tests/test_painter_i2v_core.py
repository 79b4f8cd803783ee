"""PainterI2V (princepainter/ComfyUI-PainterI2V) against the pack's steps re-derived by hand:
a grey video whose first frame is the start image, encoded; later latent frames spread from
the first by the motion amplitude (per-frame mean kept, clamped to ±6); a first-frame mask;
the start image's own latent as reference (zeros on the negative)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tests.node_helpers import empty_text, node
from wfrun.nodes.executor import NodeInputError


def hand_motion(latents: torch.Tensor, amplitude: float) -> torch.Tensor:
    """The pack's formula on ``[B, C, T, H, W]``, one later frame at a time."""
    out = latents.clone()
    first = latents[:, :, 0]
    for t in range(1, latents.shape[2]):
        d = latents[:, :, t] - first
        m = d.mean(dim=(1, 2, 3), keepdim=True)
        out[:, :, t] = torch.clamp(first + (d - m) * amplitude + m, -6, 6)
    return out


@pytest.mark.parametrize("amplitude", [1.0, 1.5])
def test_painter_i2v_is_a_grey_video_with_spread_motion_and_a_reference(ctx, vae, amplitude):
    start = torch.rand(2, 24, 40, 3, generator=torch.Generator().manual_seed(3))
    pos, neg, latent = node("PainterI2V")(ctx, positive=empty_text(), negative=empty_text(), vae=vae, width=32, height=32,
                                          length=9, batch_size=2, motion_amplitude=amplitude, start_image=start)
    assert latent["samples"].shape == (2, 16, 3, 4, 4) and latent["samples"].eq(0).all()
    # ComfyUI's centre crop comes first (to the target's aspect: 8 columns off each side of the
    # 40-wide frame), then plain bilinear scaling to 32x32
    cropped = start[:1, :, 8:32].movedim(-1, 1)
    frame = F.interpolate(cropped, size=(32, 32), mode="bilinear").movedim(1, -1)
    video = torch.full((9, 32, 32, 3), 0.5)
    video[0] = frame[0]
    encoded = node("VAEEncode")(ctx, pixels=video, vae=vae)[0]["samples"]
    want = hand_motion(encoded, amplitude)
    for cond in (pos, neg):
        opts = cond[0][1]
        torch.testing.assert_close(opts["concat_latent_image"], want, atol=2e-3, rtol=0)
        mask = opts["concat_mask"]
        assert mask.shape == (1, 1, 3, 4, 4) and mask[:, :, 0].eq(0).all() and mask[:, :, 1:].eq(1).all()
    ref = node("VAEEncode")(ctx, pixels=frame, vae=vae)[0]["samples"]
    torch.testing.assert_close(pos[0][1]["reference_latents"][-1], ref, atol=2e-3, rtol=0)
    assert neg[0][1]["reference_latents"][-1].shape == ref.shape and neg[0][1]["reference_latents"][-1].eq(0).all()


def test_painter_i2v_without_an_image_is_an_empty_latent(ctx, vae):
    pos, neg, latent = node("PainterI2V")(ctx, positive=empty_text(), negative=empty_text(), vae=vae, width=48, height=32,
                                          length=5, batch_size=1, motion_amplitude=1.15)
    assert latent["samples"].shape == (1, 16, 2, 4, 6)
    assert pos[0][1] == {} and neg[0][1] == {}


def test_painter_i2v_refuses_a_wan22_vae(ctx):
    (vae22,) = node("VAELoader")(ctx, vae_name="wan2.2_vae_tiny.safetensors")
    with pytest.raises(NodeInputError) as err:
        node("PainterI2V")(ctx, positive=empty_text(), negative=empty_text(), vae=vae22, width=32, height=32, length=5,
                           batch_size=1, motion_amplitude=1.15)
    assert err.value.input_name == "vae"
