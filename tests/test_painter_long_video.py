"""PainterLongVideo (princepainter/ComfyUI-PainterLongVideo) against references written out by
hand from the pack's steps: the previous-video branch against PainterI2V on the previous
video's last frame plus the motion reference (the last frames fitted, grey frames in front up
to 73, encoded, last 19 latent frames kept); the first/last frame branch against a grey
video with the start/end frames in place and the pixel-frame mask grouped by 4; the saved
release deciding what an end-only video starts with and where the last-frame latent comes
from; refusals where the pack fails."""

from __future__ import annotations


import pytest
import torch
import torch.nn.functional as F

from tests.node_helpers import empty_text, node, saved_as
from wfrun.nodes.executor import NodeInputError
from wfrun.packs.painter_i2v.long_video import release_for

W = H = 32
LENGTH = 9


def frames(n: int, seed: int, channels: int = 3) -> torch.Tensor:
    """``n`` random 24x40 frames (the centre crop to 32x32's aspect drops 8 columns a side)."""
    return torch.rand(n, 24, 40, channels, generator=torch.Generator().manual_seed(seed))


def hand_fit(images: torch.Tensor) -> torch.Tensor:
    return F.interpolate(images[:, :, 8:32].movedim(-1, 1), size=(H, W), mode="bilinear").movedim(1, -1)


def enc(ctx, vae, pixels):
    return node("VAEEncode")(ctx, pixels=pixels, vae=vae)[0]["samples"]


def hand_motion_reference(ctx, vae, last_frames: torch.Tensor) -> torch.Tensor:
    video = torch.full((73, H, W, 3), 0.5)
    video[73 - last_frames.shape[0]:] = hand_fit(last_frames)
    return enc(ctx, vae, video)[:, :, -19:]


def hand_first_last(ctx, vae, start, end):
    """ComfyUI's first/last frame video and mask, written out."""
    video = torch.full((LENGTH, H, W, 3), 0.5)
    t = (LENGTH - 1) // 4 + 1
    mask = torch.ones(t * 4)
    if start is not None:
        video[:start.shape[0]] = hand_fit(start)
        mask[:start.shape[0] + 3] = 0
    if end is not None:
        video[LENGTH - end.shape[0]:] = hand_fit(end)
        mask[t * 4 - end.shape[0]:] = 0
    grouped = mask.view(t, 4).t().reshape(1, 4, t, 1, 1).expand(1, 4, t, H // 8, W // 8)
    return enc(ctx, vae, video), grouped


def common(vae, **extra):
    return dict(positive=empty_text(), negative=empty_text(), vae=vae, width=W, height=H, length=LENGTH, batch_size=2,
                motion_frames=3, motion_amplitude=1.5) | extra


def check_refs(pos, neg, want: list[torch.Tensor]):
    got = pos[0][1]["reference_latents"]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, atol=2e-3, rtol=0)
    assert [r.shape for r in neg[0][1]["reference_latents"]] == [w.shape for w in want]
    assert all(r.eq(0).all() for r in neg[0][1]["reference_latents"])


@pytest.mark.parametrize("ver", [None, "8a96b60746a7f15389b225dca9416bbafe20240b", "fd4364c", "391ff7e"])
def test_previous_video_only_is_painter_i2v_on_its_last_frame_plus_motion(ctx, vae, ver):
    prev, init = frames(6, 1), frames(2, 2)
    pos, neg, latent = node("PainterLongVideo")(saved_as(ctx, "PainterLongVideo", "princepainter/ComfyUI-PainterLongVideo", ver, "4"), previous_video=prev,
                                                initial_reference_image=init, **common(vae))
    i2v_pos, i2v_neg, i2v_latent = node("PainterI2V")(
        ctx, positive=empty_text(), negative=empty_text(), vae=vae, width=W, height=H, length=LENGTH, batch_size=2,
        motion_amplitude=1.5, start_image=prev[-1:])
    assert latent["samples"].shape == (2, 16, 3, 4, 4) and latent["samples"].eq(0).all()
    torch.testing.assert_close(latent["samples"], i2v_latent["samples"])
    motion = hand_motion_reference(ctx, vae, prev[-3:])
    assert motion.shape[2] == 19
    for got, want in ((pos, i2v_pos), (neg, i2v_neg)):
        torch.testing.assert_close(got[0][1]["concat_latent_image"], want[0][1]["concat_latent_image"])
        torch.testing.assert_close(got[0][1]["concat_mask"], want[0][1]["concat_mask"])
        torch.testing.assert_close(got[0][1]["reference_motion"], motion, atol=2e-3, rtol=0)
    last = enc(ctx, vae, hand_fit(prev[-1:]))
    check_refs(pos, neg, [last, enc(ctx, vae, hand_fit(init[:1]))])
    torch.testing.assert_close(pos[0][1]["reference_latents"][0], i2v_pos[0][1]["reference_latents"][0])


def test_start_and_end_give_the_first_last_frame_video_without_motion_step(ctx, vae):
    prev, start, end = frames(80, 3), frames(2, 4), frames(1, 5)
    pos, neg, _ = node("PainterLongVideo")(ctx, previous_video=prev, start_image=start, end_image=end,
                                           **common(vae))
    concat, mask = hand_first_last(ctx, vae, start, end)
    motion = enc(ctx, vae, hand_fit(prev[-73:]))[:, :, -19:]  # 73 frames or more: no grey, motion_frames unused
    for cond in (pos, neg):
        torch.testing.assert_close(cond[0][1]["concat_latent_image"], concat, atol=2e-3, rtol=0)
        torch.testing.assert_close(cond[0][1]["concat_mask"], mask)
        torch.testing.assert_close(cond[0][1]["reference_motion"], motion, atol=2e-3, rtol=0)
    check_refs(pos, neg, [enc(ctx, vae, hand_fit(prev[-1:]))])


@pytest.mark.parametrize("ver, starts_with_previous", [("fd4364c4", False), ("391ff7e", True), ("1.01", True),
                                                        (None, True)])
def test_an_end_only_video_starts_grey_or_with_the_previous_frame_by_release(ctx, vae, ver, starts_with_previous):
    prev, end = frames(4, 6), frames(1, 7)
    pos, _, _ = node("PainterLongVideo")(saved_as(ctx, "PainterLongVideo", "princepainter/ComfyUI-PainterLongVideo", ver, "4"), previous_video=prev, end_image=end, **common(vae))
    concat, mask = hand_first_last(ctx, vae, prev[-1:] if starts_with_previous else None, end)
    torch.testing.assert_close(pos[0][1]["concat_latent_image"], concat, atol=2e-3, rtol=0)
    torch.testing.assert_close(pos[0][1]["concat_mask"], mask)
    other, _ = hand_first_last(ctx, vae, None if starts_with_previous else prev[-1:], end)
    assert not torch.allclose(other, concat, atol=1e-2)
    torch.testing.assert_close(pos[0][1]["reference_motion"], hand_motion_reference(ctx, vae, prev), atol=2e-3,
                               rtol=0)
    assert not torch.allclose(hand_motion_reference(ctx, vae, prev[-3:]), pos[0][1]["reference_motion"], atol=1e-2)


def test_a_one_frame_previous_video_gives_no_motion_reference_with_an_end_image(ctx, vae):
    pos, neg, _ = node("PainterLongVideo")(ctx, previous_video=frames(1, 8), end_image=frames(1, 9), **common(vae))
    assert "reference_motion" not in pos[0][1] and "reference_motion" not in neg[0][1]


def test_without_a_previous_video_the_last_frame_latent_is_the_encoded_first_frame(ctx, vae):
    start = frames(1, 10)
    pos, neg, _ = node("PainterLongVideo")(ctx, start_image=start, **common(vae))
    assert "reference_motion" not in pos[0][1]
    check_refs(pos, neg, [enc(ctx, vae, hand_fit(start))])
    pos, neg, _ = node("PainterLongVideo")(ctx, end_image=frames(1, 11), **common(vae))
    check_refs(pos, neg, [enc(ctx, vae, torch.full((1, H, W, 3), 0.5))])
    ends = frames(LENGTH + 2, 12)  # the end frames fill the whole video: frame 0 is one of them
    pos, neg, _ = node("PainterLongVideo")(ctx, end_image=ends, **common(vae))
    check_refs(pos, neg, [enc(ctx, vae, hand_fit(ends[2:3]))])


def test_the_release_table():
    assert [release_for(v) for v in (None, "64f9e2c7", "fd4364c", "49afdbeb1ffa", "3785138", "0263311",
                                     "889b4ff67909561e52d6ae023f5b9e8c33fdba94", "1.0.1", "abc")] == \
        [4, 1, 2, 3, 3, 4, 4, 4, 4]


@pytest.mark.parametrize("ver, extra, name", [
    (None, {}, "previous_video"),
    ("391ff7e", {"start_image": frames(1, 1)}, "previous_video"),
    ("8a96b60", {"previous_video": frames(2, 1), "end_image": frames(1, 1)}, "end_image"),
    (None, {"previous_video": frames(2, 1, channels=4)}, "previous_video"),
])
def test_where_the_pack_fails_wfrun_refuses_by_name(ctx, vae, ver, extra, name):
    with pytest.raises(NodeInputError) as err:
        node("PainterLongVideo")(saved_as(ctx, "PainterLongVideo", "princepainter/ComfyUI-PainterLongVideo", ver, "4"), **common(vae), **extra)
    assert err.value.input_name == name


def test_a_wan22_vae_is_refused(ctx):
    (vae22,) = node("VAELoader")(ctx, vae_name="wan2.2_vae_tiny.safetensors")
    for extra in ({"previous_video": frames(2, 1)}, {"start_image": frames(1, 1)}):
        with pytest.raises(NodeInputError) as err:
            node("PainterLongVideo")(ctx, **common(vae22), **extra)
        assert err.value.input_name == "vae"
