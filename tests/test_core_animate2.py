"""Wan Animate 2 through ComfyUI's core nodes: WanAnimate2ToVideo's conditioning written out
from ComfyUI's node (``comfy_extras/nodes_wan.py`` at Comfy-Org/ComfyUI 679f171b),
WanAnimate2Cache's settings, and the distilled template planned and run end to end with
``--smoke`` (the model's forward itself: ``test_animate2_forward.py``)."""

from __future__ import annotations

import json
from pathlib import Path

import comfyui_workflow_templates_json
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from tests.node_helpers import node
from wfrun.cli import main
from wfrun.jobs.smoke import MAX_FRAMES
from wfrun.media.video import iter_frames
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.comfy_core_models.types import ClipVisionOutput

TEMPLATES = Path(comfyui_workflow_templates_json.__file__).parent / "templates"


@pytest.fixture(scope="module")
def ctx(tiny_models) -> ExecContext:
    return ExecContext(models=ModelRoots.from_options(tiny_models))


@pytest.fixture(scope="module")
def vae(ctx):
    (v,) = node("VAELoader")(ctx, vae_name="wan_2.1_vae_tiny.safetensors")
    return v


def _area_fit(frames: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """ComfyUI's ``common_upscale(..., "area", "center")`` on IMAGE frames, written out."""
    h, w = frames.shape[1:3]
    if w / h > width / height:
        x = round((w - w * (width / height) / (w / h)) / 2)
        frames = frames[:, :, x:w - x]
    elif w / h < width / height:
        y = round((h - h * (w / h) / (width / height)) / 2)
        frames = frames[:, y:h - y]
    return F.interpolate(frames.movedim(-1, 1), size=(height, width), mode="area").movedim(1, -1)


def _clip(seed: int) -> ClipVisionOutput:
    return ClipVisionOutput(penultimate_hidden_states=torch.randn(1, 5, 8, generator=torch.Generator().manual_seed(seed)))


def _encode(ctx, vae, images):
    from wfrun.packs.comfy_core_models.vae_nodes import encode_images

    return encode_images(ctx, vae, images)


def test_conditioning_is_comfyuis(ctx, vae):
    g = torch.Generator().manual_seed(3)
    W, H, length = 32, 16, 9
    reference = torch.rand(2, 24, 40, 3, generator=g)     # only the first frame counts, area-fit to 32x16
    pose = torch.rand(10, H, W, 3, generator=g)           # from the offset on it is short: its last frame is held
    motion = torch.rand(6, H, W, 3, generator=g)          # the previous chunk: Animate 2 keeps its last frame
    positive = [[torch.zeros(1, 512, 32), {}]]
    negative = [[torch.ones(1, 512, 32), {}]]
    pose_text = [[torch.full((1, 512, 32), 2.0), {}]]
    clip, clip_pose = _clip(1), _clip(2)
    pos, neg, latent, trim_latent, trim_image, next_offset = node("WanAnimate2ToVideo")(
        ctx, positive=positive, negative=negative, vae=vae, width=W, height=H, length=length, batch_size=2,
        video_frame_offset=5, reference_image=reference, pose_video=pose, clip_vision_output=clip,
        positive_pose=pose_text, clip_vision_output_pose=clip_pose, continue_motion=motion, pose_strength=0.5,
        reference_image_strength=1.5)
    offset = 5 - 1                                        # the one continued frame is taken back off the offset
    frames = (length - 1) // 4 + 1
    assert (trim_latent, trim_image, next_offset) == (1, 4 * 1 - 3, offset + length)  # one latent frame continued
    assert latent["samples"].shape == (2, 16, 1 + frames, H // 8, W // 8) and latent["samples"].eq(0).all()

    video = torch.full((length, H, W, 3), 0.5)
    video[0] = motion[-1]
    want_concat = torch.cat([_encode(ctx, vae, _area_fit(reference[:1], W, H)), _encode(ctx, vae, video)], dim=2)
    opts = pos[0][1]
    torch.testing.assert_close(opts["concat_latent_image"], want_concat)
    want_mask = torch.ones(1, 1, 1 + frames, H // 8, W // 8)
    want_mask[:, :, :2] = 0.0                              # the reference's latent frame and the continued one
    assert torch.equal(opts["concat_mask"], want_mask)

    held = torch.cat([pose[offset:], pose[-1:].expand(length - (10 - offset), -1, -1, -1)])
    torch.testing.assert_close(opts["pose_video_latent"], _encode(ctx, vae, held))
    assert opts["clip_vision_output"] is clip and opts["clip_vision_output_pose"] is clip_pose
    assert opts["cross_attn_pose"] is pose_text[0][0]
    assert opts["pose_strength"] == 0.5 and opts["reference_strength"] == 1.5
    assert "start_percent" not in opts and len(pos) == 1 and len(neg) == 1
    for key in ("concat_latent_image", "concat_mask", "pose_video_latent", "cross_attn_pose", "clip_vision_output_pose"):
        assert neg[0][1][key] is opts[key]                # the negative gets the same pose values
    assert positive[0][1] == {} and torch.equal(neg[0][0], negative[0][0])


def test_defaults_set_no_strengths_and_the_pose_text_is_the_positive(ctx, vae):
    positive = [[torch.zeros(1, 512, 32), {}]]
    pos, _, latent, trim_latent, trim_image, offset = node("WanAnimate2ToVideo")(
        ctx, positive=positive, negative=positive, vae=vae, width=16, height=16, length=5, batch_size=1)
    opts = pos[0][1]
    assert (trim_latent, trim_image, offset) == (1, 0, 5) and latent["samples"].shape == (1, 16, 3, 2, 2)
    want = torch.cat([_encode(ctx, vae, torch.zeros(1, 16, 16, 3)),
                      _encode(ctx, vae, torch.full((5, 16, 16, 3), 0.5))], dim=2)
    torch.testing.assert_close(opts["concat_latent_image"], want)
    assert opts["concat_mask"][:, :, 0].eq(0).all() and opts["concat_mask"][:, :, 1:].eq(1).all()
    assert opts["cross_attn_pose"] is positive[0][0]
    for key in ("pose_video_latent", "clip_vision_output", "clip_vision_output_pose", "pose_strength",
                "reference_strength"):
        assert key not in opts


def test_a_pose_window_splits_each_entry_as_comfyui(ctx, vae):
    positive = [[torch.zeros(1, 512, 32), {}]]
    pos, neg, *_ = node("WanAnimate2ToVideo")(
        ctx, positive=positive, negative=positive, vae=vae, width=16, height=16, length=5, batch_size=1,
        pose_video=torch.rand(5, 16, 16, 3), pose_start_percent=0.2, pose_end_percent=0.7)
    for cond in (pos, neg):
        assert [(e[1]["start_percent"], e[1]["end_percent"]) for e in cond] == [(0.2, 0.7), (0.0, 0.2), (0.7, 1.0)]
        assert "pose_video_latent" in cond[0][1] and "cross_attn_pose" in cond[0][1]
        for plain in cond[1:]:
            assert "pose_video_latent" not in plain[1] and "cross_attn_pose" not in plain[1]
            assert "concat_latent_image" in plain[1]      # set before the window: every part has it
    _, _, *rest = node("WanAnimate2ToVideo")(
        ctx, positive=positive, negative=positive, vae=vae, width=16, height=16, length=5, batch_size=1,
        pose_start_percent=0.0, pose_end_percent=0.5)
    assert rest[0]["samples"].shape[2] == 3


@pytest.mark.parametrize("inputs, name", [
    ({"pose_start_percent": 0.8, "pose_end_percent": 0.3}, "pose_start_percent"),
    ({"pose_video": torch.rand(3, 16, 16, 3), "video_frame_offset": 3}, "video_frame_offset"),
    ({"clip_vision_output_pose": "not a clip output"}, "clip_vision_output_pose"),
])
def test_bad_inputs_are_named(ctx, vae, inputs, name):
    positive = [[torch.zeros(1, 512, 32), {}]]
    with pytest.raises(NodeInputError) as err:
        node("WanAnimate2ToVideo")(ctx, positive=positive, negative=positive, vae=vae, width=16, height=16,
                                   length=5, batch_size=1, **inputs)
    assert err.value.input_name == name


def test_a_wan22_vae_is_refused(ctx):
    (v22,) = node("VAELoader")(ctx, vae_name="wan2.2_vae_tiny.safetensors")
    positive = [[torch.zeros(1, 512, 32), {}]]
    with pytest.raises(NodeInputError) as err:
        node("WanAnimate2ToVideo")(ctx, positive=positive, negative=positive, vae=v22, width=32, height=32,
                                   length=5, batch_size=1)
    assert err.value.input_name == "vae"


def test_cache_records_its_settings_and_refuses_unknown_ones(ctx):
    (model,) = node("UNETLoader")(ctx, unet_name="wan2.1_i2v_480p_14B_tiny_fp8_scaled.safetensors",
                                  weight_dtype="default")
    (cached,) = node("WanAnimate2Cache")(ctx, model=model, device="gpu", dtype="int8")
    assert cached.animate2_cache == ("gpu", "int8") and cached.transformer is model.transformer
    assert model.animate2_cache is None
    with pytest.raises(NodeInputError) as err:
        node("WanAnimate2Cache")(ctx, model=model, device="gpu", dtype="fp8")
    assert err.value.input_name == "dtype"


def test_distilled_template_plans_and_runs_end_to_end_with_smoke(tmp_path):
    path = TEMPLATES / "video_wan_animate2_distilled.json"
    coverage = CliRunner().invoke(main, ["coverage", str(path)])
    assert coverage.exit_code == 0 and "1 of 1 workflows have every planned node supported" in coverage.output
    result = CliRunner().invoke(main, ["run", str(path), "--smoke", "-o", str(tmp_path / "out"), "--device", "cpu",
                                       "--format", "json"], env={"WFRUN_CACHE": str(tmp_path / "cache")})
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    # the pose video's resize is a DynamicCombo's size: capped like any width/height pair
    assert "node 261:243 'Resize Image/Mask': resize_type.width = 32 (--smoke, was 482)" in report["overrides"]
    assert "node 261:243 'Resize Image/Mask': resize_type.height = 64 (--smoke, was 854)" in report["overrides"]
    videos = sorted(Path(p) for p in report["written"] if p.endswith(".mp4"))
    assert len(videos) == 2  # the animation, and it beside the driving video
    for video in videos:
        assert len(list(iter_frames(video))) == MAX_FRAMES
    assert path.read_bytes() == (TEMPLATES / "video_wan_animate2_distilled.json").read_bytes()


def test_loop_template_runs_its_fragments_through_start_and_end_loop(tmp_path):
    """The Wan Animate 2 template with ComfyUI's native loop: with fragments of 5 frames the
    9 capped driving frames take two passes (the second continues from the first's last
    frame and drops it), collected by End Loop and rebatched to the 9 frames."""
    path = TEMPLATES / "video_wan_animate2.json"
    coverage = CliRunner().invoke(main, ["coverage", str(path)])
    assert coverage.exit_code == 0 and "1 of 1 workflows have every planned node supported" in coverage.output
    result = CliRunner().invoke(main, ["run", str(path), "--smoke", "--set", "672:635.value=5", "-o",
                                       str(tmp_path / "out"), "--device", "cpu", "--format", "json"],
                                env={"WFRUN_CACHE": str(tmp_path / "cache")})
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["executed"].count("672:597") == 2 and report["executed"].count("672:587") == 2  # two passes
    assert report["executed"].count("672:649") == 1  # the carried list is read in the second pass only
    videos = sorted(Path(p) for p in report["written"] if p.endswith(".mp4"))
    assert len(videos) == 2
    for video in videos:
        assert len(list(iter_frames(video))) == MAX_FRAMES


def test_dancer_template_is_refused_naming_the_model_wfrun_lacks(tmp_path):
    """Wan-Dancer needs a model part wfrun does not have (audio injection, ComfyUI's
    WanDancerModel): the run stops before loading anything and says so beside each node."""
    path = TEMPLATES / "video_wan_dancer.json"
    result = CliRunner().invoke(main, ["run", str(path), "--smoke", "--dry-run", "-o", str(tmp_path / "out")],
                                env={"WFRUN_CACHE": str(tmp_path / "cache")})
    assert result.exit_code == 1
    for node_type in ("WanDancerEncodeAudio", "WanDancerVideo"):  # its keyframe padding runs (no model)
        assert f"({node_type}, pack comfy-core): part of Wan-Dancer" in result.output
    assert "Traceback" not in result.output
