"""SCAIL-2 through ComfyUI's core nodes: SCAIL2ColoredMask on hand-built tracks (colours,
orders and backgrounds worked out by hand from ComfyUI's ``nodes_scail.py``), the 28-channel
colour decoding against a per-pixel loop, the timestep-range split of
``conditioning_set_values_with_timestep_range``, WanSCAILToVideo's conditioning written out
from ComfyUI's node on the tiny VAE, and the sampler's refusal of SCAIL conditioning (no
SCAIL model in wfrun yet)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tests.node_helpers import node
from wfrun.models.paths import ModelRoots
from wfrun.nodes.conditioning import RANGE_GAP, set_values_in_range
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.comfy_core_models.scail_masks import mask_to_28ch
from wfrun.packs.comfy_core_models.types import Sam3TrackData

BLUE, RED, GREEN, MAGENTA = (0.0, 0.0, 1.0), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (1.0, 0.0, 1.0)
WHITE, BLACK = (1.0, 1.0, 1.0), (0.0, 0.0, 0.0)


def _track() -> Sam3TrackData:
    """Two frames of 4x6 tracker masks (frames 8x12: each mask pixel is 2x2 there), three
    objects in the tracker's order: 0 appears only in frame 1, on the right; 1 in frame 0,
    right of centre (3 pixels); 2 in frame 0 at the left edge (1 pixel). In frame 1 objects
    0 and 1 share the pixel (row 1, column 4)."""
    m = torch.zeros(2, 3, 4, 6, dtype=torch.bool)
    m[1, 0, 1, 4:6] = True
    m[0, 1, 0, 3:6] = True
    m[1, 1, 1, 3:5] = True
    m[0, 2, 2, 0] = True
    return Sam3TrackData(m, (8, 12), 2, (0.9, 0.8, 0.7))


def _px(image: torch.Tensor, frame: int, row: int, col: int) -> tuple:
    """The colour of tracker pixel (row, col) in the frames' size (its top-left of 2x2)."""
    return tuple(image[frame, row * 2, col * 2].tolist())


def test_left_to_right_orders_by_first_appearance_then_centroid():
    pose, ref = node("SCAIL2ColoredMask")(ExecContext(), driving_track_data=_track(), sort_by="left_to_right",
                                          replacement_mode=True)
    # frame 0: object 2 (x 0) then object 1 (x 4); object 0 first appears in frame 1 -> third
    assert pose.shape == (2, 8, 12, 3)
    assert _px(pose, 0, 2, 0) == BLUE and _px(pose, 0, 0, 4) == RED and _px(pose, 1, 1, 5) == GREEN
    assert _px(pose, 1, 1, 4) == RED          # shared pixel: the lower sorted index wins
    assert _px(pose, 1, 1, 3) == RED and _px(pose, 0, 3, 3) == WHITE  # replacement: driving on white
    assert torch.equal(pose[0, 4, 0], pose[0, 5, 1])   # nearest upsampling: whole 2x2 blocks
    assert ref.shape == (1, 8, 12, 3) and ref.eq(0).all()  # no reference: one black frame


def test_area_order_none_and_object_indices():
    pose, _ = node("SCAIL2ColoredMask")(ExecContext(), driving_track_data=_track(), sort_by="area",
                                        replacement_mode=False)
    # frame 0: object 1 (3 px) before object 2 (1 px), then object 0
    assert _px(pose, 0, 0, 4) == BLUE and _px(pose, 0, 2, 0) == RED and _px(pose, 1, 1, 5) == GREEN
    assert _px(pose, 0, 3, 3) == BLACK        # animation: driving on black
    pose, _ = node("SCAIL2ColoredMask")(ExecContext(), driving_track_data=_track(), sort_by="none",
                                        replacement_mode=False)
    assert _px(pose, 1, 1, 5) == BLUE and _px(pose, 1, 1, 4) == BLUE and _px(pose, 0, 2, 0) == GREEN
    pose, _ = node("SCAIL2ColoredMask")(ExecContext(), driving_track_data=_track(), sort_by="left_to_right",
                                        object_indices=" 2, x, 7,", replacement_mode=False)
    # only the third of the sorted order (object 0) is left, so it takes the first colour
    assert _px(pose, 1, 1, 5) == BLUE and _px(pose, 1, 1, 3) == BLACK and _px(pose, 0, 2, 0) == BLACK
    pose, _ = node("SCAIL2ColoredMask")(ExecContext(), driving_track_data=_track(), object_indices="9",
                                        replacement_mode=True)
    assert pose.shape == (2, 8, 12, 3) and pose.eq(1).all()   # nothing left: background only


def test_reference_track_mask_and_empty_track():
    ref_masks = torch.zeros(1, 2, 2, 3, dtype=torch.bool)
    ref_masks[0, 0, 1, 2] = True   # right: second left-to-right
    ref_masks[0, 1, 0, 0] = True   # left: first
    ref_track = Sam3TrackData(ref_masks, (4, 6), 1)
    _, ref = node("SCAIL2ColoredMask")(ExecContext(), driving_track_data=_track(), ref_track_data=ref_track,
                                       replacement_mode=False)
    assert ref.shape == (1, 4, 6, 3)
    assert tuple(ref[0, 0, 0].tolist()) == BLUE and tuple(ref[0, 2, 4].tolist()) == RED
    assert tuple(ref[0, 3, 0].tolist()) == WHITE   # animation: the reference on white

    mask = torch.tensor([[[0.2, 0.7], [0.5, 1.0]]])
    _, ref = node("SCAIL2ColoredMask")(ExecContext(), driving_track_data=_track(), ref_track_data=mask,
                                       replacement_mode=True)
    want = torch.tensor([[[BLACK, BLUE], [BLACK, BLUE]]])   # > 0.5 only; replacement: on black
    assert torch.equal(ref, want)

    empty = Sam3TrackData(None, (4, 6), 3)
    pose, ref = node("SCAIL2ColoredMask")(ExecContext(), driving_track_data=empty, replacement_mode=False)
    assert pose.shape == (3, 4, 6, 3) and pose.eq(0).all() and ref.shape == (1, 4, 6, 3) and ref.eq(1).all()
    with pytest.raises(NodeInputError, match="SAM3_TRACK_DATA") as err:
        node("SCAIL2ColoredMask")(ExecContext(), driving_track_data=torch.zeros(1, 4, 4))
    assert err.value.input_name == "driving_track_data"


def test_mask_to_28ch_against_a_pixel_loop():
    colours = {WHITE: 0, RED: 1, GREEN: 2, BLUE: 3, (1.0, 1.0, 0.0): 4, MAGENTA: 5, (0.0, 1.0, 1.0): 6}
    g = torch.Generator().manual_seed(3)
    keys = list(colours) + [BLACK, (0.5, 0.5, 0.5)]
    pick = torch.randint(len(keys), (5, 16, 24), generator=g)
    video = torch.tensor(keys)[pick]
    video[1, 0, 0] = torch.tensor([0.9, 0.9, 0.9])   # 0.9 > 225/255: white
    video[2, 0, 0] = torch.tensor([0.87, 0.0, 0.0])  # 0.87 < 225/255: black, not red
    out = mask_to_28ch(video)
    assert out.shape == (1, 2, 28, 2, 3)
    padded = [0, 0, 0, 0, 1, 2, 3, 4]     # the first frame fills the first group of 4
    want = torch.zeros(1, 2, 28, 2, 3)
    for t in range(2):
        for slot in range(4):
            frame = padded[4 * t + slot]
            for y in range(16):
                for x in range(24):
                    rgb = tuple(1.0 if v > 225 / 255 else 0.0 for v in video[frame, y, x].tolist())
                    if rgb in colours:
                        want[0, t, slot * 7 + colours[rgb], y // 8, x // 8] += 1 / 64
    torch.testing.assert_close(out, want)
    with pytest.raises(NodeInputError):
        mask_to_28ch(video[:4])


def test_set_values_in_range_splits_around_the_range():
    t = torch.zeros(1, 2, 3)
    cond = [[t, {"a": 1}], [t, {"start_percent": 0.5, "end_percent": 1.0}], [t, {"end_percent": 0.1}]]
    out = set_values_in_range(cond, {"v": 7}, 0.2, 0.6)
    assert [e[1] for e in out] == [
        {"a": 1, "start_percent": 0.0, "end_percent": 0.2 - RANGE_GAP},
        {"a": 1, "v": 7, "start_percent": 0.2, "end_percent": 0.6},
        {"a": 1, "start_percent": 0.6 + RANGE_GAP, "end_percent": 1.0},
        {"v": 7, "start_percent": 0.5, "end_percent": 0.6},
        {"start_percent": 0.6 + RANGE_GAP, "end_percent": 1.0},
        {"end_percent": 0.1},                     # no overlap: kept as it was
    ]
    whole = set_values_in_range([[t, {}]], {"v": 1}, 0.0, 1.0)
    assert [e[1] for e in whole] == [{"v": 1, "start_percent": 0.0, "end_percent": 1.0}]
    assert set_values_in_range([[t, {}]], {"v": 1}, 0.7, 0.2) == [[t, {}]]
    assert cond[0][1] == {"a": 1}


# --- WanSCAILToVideo --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ctx(tiny_models) -> ExecContext:
    return ExecContext(models=ModelRoots.from_options(tiny_models))


@pytest.fixture(scope="module")
def vae(ctx):
    (v,) = node("VAELoader")(ctx, vae_name="wan_2.1_vae_tiny.safetensors")
    return v


def test_scail_to_video_conditioning_is_comfyuis(ctx, vae):
    from wfrun.packs.comfy_core_models.vae_nodes import encode_images

    g = torch.Generator().manual_seed(11)
    W, H, length = 64, 32, 9
    refs = torch.rand(2, 64, 128, 3, generator=g)          # the output's aspect: no crop
    ref_mask = torch.zeros(1, 16, 32, 3)
    ref_mask[0, 4:12, 8:20] = torch.tensor(RED)
    pose = torch.rand(12, H, W, 3, generator=g)
    mask_video = torch.zeros(10, H, W, 3)
    mask_video[:, :16, :32] = torch.tensor(BLUE)
    previous = torch.rand(6, H, W, 3, generator=g)
    positive = [[torch.zeros(1, 512, 32), {}]]
    negative = [[torch.ones(1, 512, 32), {}]]
    pos, neg, latent, next_offset = node("WanSCAILToVideo")(
        ctx, positive=positive, negative=negative, vae=vae, width=W, height=H, length=length, batch_size=2,
        pose_strength=0.5, pose_start=0.1, pose_end=0.9, video_frame_offset=7, previous_frame_count=5,
        pose_video=pose, pose_video_mask=mask_video, replacement_mode=True, reference_image=refs,
        reference_image_mask=ref_mask, previous_frames=previous)
    offset = 7 - 5                                          # the anchored frames are taken off the offset
    assert next_offset == offset + length
    kept = ((min(12 - offset, 10 - offset, length) - 1) // 4) * 4 + 1    # 8 mask frames left -> 5
    assert kept == 5

    # positive: split around the pose range; every part has the flag, the refs, the masks
    assert [(e[1]["start_percent"], e[1]["end_percent"]) for e in pos] == [
        (0.0, 0.1 - 1e-5), (0.1, 0.9), (0.9 + 1e-5, 1.0)]
    assert [("pose_video_latent" in e[1]) for e in pos] == [False, True, False]
    opts = pos[1][1]
    assert opts["ref_mask_flag"] is False                   # replacement mode
    matte = (F.interpolate(ref_mask.movedim(-1, 1), size=(H, W), mode="nearest-exact").amax(dim=1) > 0.1)
    for i in range(2):
        ref = F.interpolate(refs[i:i + 1].movedim(-1, 1), size=(H, W), mode="bicubic").movedim(1, -1)
        ref = ref * matte.unsqueeze(-1).float()             # both refs under the one mask
        torch.testing.assert_close(opts["reference_latents"][i], encode_images(ctx, vae, ref))
    want_pose = F.interpolate(pose[offset:offset + kept].movedim(-1, 1), size=(H // 2, W // 2), mode="area")
    torch.testing.assert_close(opts["pose_video_latent"],
                               encode_images(ctx, vae, want_pose.movedim(1, -1)) * 0.5)
    small_mask = F.interpolate(mask_video[offset:offset + kept].movedim(-1, 1), size=(H // 2, W // 2), mode="area")
    torch.testing.assert_close(opts["driving_mask_28ch"], mask_to_28ch(small_mask.movedim(1, -1)))
    assert opts["driving_mask_28ch"].shape == (1, 2, 28, 2, 4)
    full_mask = F.interpolate(ref_mask.movedim(-1, 1), size=(H, W), mode="nearest-exact").movedim(1, -1)
    one = mask_to_28ch(full_mask)
    want_ref = torch.cat([one, one, torch.zeros(1, 3, 28, 4, 8)], dim=1)   # extra ref, first ref, 3 output frames
    torch.testing.assert_close(opts["ref_mask_28ch"], want_ref)
    assert one[0, 0, 1].sum() > 0 and one[0, 0, 3].sum() == 0              # red, not blue
    for key in ("ref_mask_flag", "reference_latents", "driving_mask_28ch", "ref_mask_28ch"):
        assert key in neg[0][1] and key in pos[0][1]
    assert positive[0][1] == {}

    # the latent: zeros but the anchored frames, which the noise mask keeps
    samples = latent["samples"]
    assert samples.shape == (2, 16, 3, H // 8, W // 8)
    prev_latent = encode_images(ctx, vae, previous[-5:])
    torch.testing.assert_close(samples[:, :, :2], prev_latent[:, :, :2].expand(2, -1, -1, -1, -1))
    assert samples[:, :, 2:].eq(0).all()
    want_noise = torch.ones(1, 1, 3, H // 8, W // 8)
    want_noise[:, :, :2] = 0
    assert torch.equal(latent["noise_mask"], want_noise)


def test_scail_to_video_animation_mode_keeps_the_reference_whole(ctx, vae):
    from wfrun.packs.comfy_core_models.vae_nodes import encode_images

    ref = torch.rand(1, 32, 64, 3, generator=torch.Generator().manual_seed(2))
    positive = [[torch.zeros(1, 512, 32), {}]]
    pos, _, latent, offset = node("WanSCAILToVideo")(
        ctx, positive=positive, negative=positive, vae=vae, width=64, height=32, length=5,
        reference_image=ref, reference_image_mask=torch.zeros(1, 32, 64, 3), pose_video=torch.rand(3, 32, 64, 3))
    opts = pos[0][1]
    assert len(pos) == 1 and opts["ref_mask_flag"] is True and offset == 5 and "noise_mask" not in latent
    torch.testing.assert_close(opts["reference_latents"][0], encode_images(ctx, vae, ref))   # not blacked out
    assert opts["pose_video_latent"].shape[2] == 1          # 3 frames -> 1 (4k + 1)
    assert opts["ref_mask_28ch"].shape == (1, 1 + 2, 28, 4, 8)


def test_sampler_refuses_scail_conditioning(ctx, vae):
    from wfrun.packs.comfy_core_models.model_input import conditioning_entries

    positive = [[torch.zeros(1, 512, 32), {}]]
    pos, _, _, _ = node("WanSCAILToVideo")(ctx, positive=positive, negative=positive, vae=vae, width=64, height=32,
                                           length=5)
    with pytest.raises(NodeInputError, match="SCAIL"):
        conditioning_entries(pos, "positive")


def test_a_scail_checkpoint_is_named_not_mistaken_for_animate(tmp_path):
    """SCAIL-2's file carries Animate's ``pose_patch_embedding`` name (20 channels: pose
    latents and 4 mask channels) without Animate's motion encoder, plus a 28-channel
    ``mask_patch_embedding``: detection names it and the loaders refuse it, where it used to
    fail looking for the motion encoder."""
    from test_models_detect import write_header_only

    from wfrun.models import tiny
    from wfrun.models.detect import detect
    from wfrun.nodes.models import runnable_family

    sd = tiny.transformer_weights("i2v", 1)
    shapes = {f"model.diffusion_model.{k}": tuple(v.shape) for k, v in sd.items()}
    dim = sd["patch_embedding.weight"].shape[0]
    shapes["model.diffusion_model.patch_embedding.weight"] = (dim, 20, 1, 2, 2)
    for name, channels in (("pose_patch_embedding", 20), ("mask_patch_embedding", 28)):
        shapes[f"model.diffusion_model.{name}.weight"] = (dim, channels, 1, 2, 2)
        shapes[f"model.diffusion_model.{name}.bias"] = (dim,)
    path = write_header_only(tmp_path / "wan2.1_14B_SCAIL_2_fp16.safetensors", shapes)
    info = detect(path)
    assert info.kind == "wan_transformer" and info.task == "in20-image"
    assert any("SCAIL" in note for note in info.notes)
    with pytest.raises(NodeInputError, match="cannot sample"):
        runnable_family(path, info.task, "unet_name")


def test_a_workflow_through_wan_scail_to_video_stops_at_the_sampler(tiny_models, tmp_path):
    """Core loaders → WanSCAILToVideo → KSampler run through the engine: the conditioning is
    made, and the sampler refuses it by name (wfrun has no SCAIL model) instead of sampling
    a plain I2V model that would ignore the pose, references and masks."""
    import json

    from wfrun.jobs.run import JobError, RunOptions, run_file

    W, H, L = 64, 32, 5
    image = lambda w, h, n, color: {"class_type": "EmptyImage",  # noqa: E731
                                    "inputs": {"width": w, "height": h, "batch_size": n, "color": color}}
    prompt = {
        "1": {"class_type": "UNETLoader", "inputs": {"unet_name": "Wan2_1-I2V-14B-480P_tiny_fp8_e4m3fn.safetensors",
                                                     "weight_dtype": "default"}},
        "3": {"class_type": "CLIPLoader", "inputs": {"clip_name": "umt5_xxl_tiny_fp16.safetensors", "type": "wan",
                                                     "device": "default"}},
        "4": {"class_type": "CLIPTextEncode", "inputs": {"text": "a dancer", "clip": ["3", 0]}},
        "5": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["3", 0]}},
        "6": {"class_type": "VAELoader", "inputs": {"vae_name": "wan_2.1_vae_tiny.safetensors"}},
        "8": image(W, H, 1, 0x8040C0),
        "10": image(W, H, L, 0x20A040),
        "11": image(W, H, L, 0x0000FF),
        "14": {"class_type": "WanSCAILToVideo", "inputs": {
            "positive": ["4", 0], "negative": ["5", 0], "vae": ["6", 0], "width": W, "height": H, "length": L,
            "batch_size": 1, "pose_strength": 1.0, "pose_start": 0.0, "pose_end": 1.0, "video_frame_offset": 0,
            "previous_frame_count": 5, "replacement_mode": True, "reference_image": ["8", 0],
            "pose_video": ["10", 0], "pose_video_mask": ["11", 0]}},
        "15": {"class_type": "KSampler", "inputs": {
            "model": ["1", 0], "seed": 1, "steps": 2, "cfg": 2.0, "sampler_name": "euler", "scheduler": "simple",
            "positive": ["14", 0], "negative": ["14", 1], "latent_image": ["14", 2], "denoise": 1.0}},
        "17": {"class_type": "VAEDecode", "inputs": {"samples": ["15", 0], "vae": ["6", 0]}},
        "18": {"class_type": "SaveImage", "inputs": {"images": ["17", 0], "filename_prefix": "scail"}},
    }
    path = tmp_path / "scail_api.json"
    path.write_text(json.dumps(prompt), encoding="utf-8")
    with pytest.raises(JobError) as err:
        run_file(path, RunOptions(models_dir=str(tiny_models), output_dir=tmp_path / "out", device="cpu"))
    message = str(err.value)
    assert "SCAIL" in message and "KSampler" in message and "not supported" in message, message
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.png"))
