"""The wrapper's newest inputs of its loaders, text/clip/image encoders, empty embeds and VAE
decode/encode (compared with the search index's versions, 2026-12-03), saved widget lists of
every signature binding without a shift, and WanVideoEverAnimateEmbeds (everanimate/nodes.py)
against the pack's layout worked out by hand and against WanVideoAnimateEmbeds, which it
equals with one anchor and no motion slot."""

from __future__ import annotations

import pytest
import torch

from tests.animate_fixtures import KIJAI, animate_context, tiny_vae
from tests.node_helpers import node
from wfrun.graph.widgets import bind, choose_signature
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.wanvideo.vae import encode_video
from wfrun.sampling import loop as loop_module
from wfrun.sampling.conditioning import TextEmbeds
from wfrun.specs.registry import default_registry

# --- the newest signatures -----------------------------------------------------------------------

#: Widgets (name, default) of each node's INPUT_TYPES in the index's newest stored files
#: (nodes.py at 299971eb, nodes_model_loading.py at 3317577 and ee982da), written out from them.
NEWEST_WIDGETS = {
    "WanVideoVAELoader": [("model_name", None), ("precision", "bf16"), ("use_cpu_cache", False), ("verbose", False)],
    "LoadWanVideoT5TextEncoder": [("model_name", None), ("precision", "bf16"), ("load_device", "offload_device"),
                                  ("quantization", "disabled")],
    "LoadWanVideoClipTextEncoder": [("model_name", None), ("precision", "fp16"), ("load_device", "offload_device")],
    "WanVideoModelLoader": [("model", None), ("base_precision", "bf16"), ("quantization", "disabled"),
                            ("load_device", "offload_device"), ("attention_mode", "sdpa"),
                            ("rms_norm_function", "default")],
    "WanVideoTextEncode": [("positive_prompt", ""), ("negative_prompt", ""), ("force_offload", True),
                           ("use_disk_cache", False), ("device", "gpu")],
    "WanVideoTextEncodeCached": [("model_name", None), ("precision", "bf16"), ("positive_prompt", ""),
                                 ("negative_prompt", ""), ("quantization", "disabled"), ("use_disk_cache", True),
                                 ("device", "gpu")],
    "WanVideoTextEncodeSingle": [("prompt", ""), ("force_offload", True), ("use_disk_cache", False),
                                 ("device", "gpu")],
    "WanVideoClipVisionEncode": [("strength_1", 1.0), ("strength_2", 1.0), ("crop", "center"),
                                 ("combine_embeds", "average"), ("force_offload", True), ("tiles", 0),
                                 ("ratio", 0.5)],
    "WanVideoImageToVideoEncode": [("width", 832), ("height", 480), ("num_frames", 81), ("noise_aug_strength", 0.0),
                                   ("start_latent_strength", 1.0), ("end_latent_strength", 1.0),
                                   ("force_offload", True), ("fun_or_fl2v_model", True), ("tiled_vae", False),
                                   ("augment_empty_frames", 0.0)],
    "WanVideoEmptyEmbeds": [("width", 832), ("height", 480), ("num_frames", 81)],
    "WanVideoDecode": [("enable_vae_tiling", False), ("tile_x", 272), ("tile_y", 272), ("tile_stride_x", 144),
                       ("tile_stride_y", 128), ("normalization", None)],
    "WanVideoEncode": [("enable_vae_tiling", False), ("tile_x", 272), ("tile_y", 272), ("tile_stride_x", 144),
                       ("tile_stride_y", 128), ("noise_aug_strength", 0.0), ("latent_strength", 1.0)],
    # everanimate/nodes.py at 1972d87 (c8fb8ffe: frame_window_size 77)
    "WanVideoEverAnimateEmbeds": [("width", 832), ("height", 480), ("num_frames", 81), ("force_offload", True),
                                  ("frame_window_size", 81), ("colormatch", "disabled"), ("pose_strength", 1.0),
                                  ("face_strength", 1.0), ("num_video_anchor_latents", 4),
                                  ("num_motion_latents", 1), ("anchor_select_mode", "repeat_user"),
                                  ("tiled_vae", False)],
}
#: Renamed in place over the pack's history (same position): a save binds to the new name.
RENAMED = {"fun_model": "fun_or_fl2v_model", "generation_width": "width", "generation_height": "height"}


@pytest.mark.parametrize("class_type", sorted(NEWEST_WIDGETS))
def test_the_newest_signature_is_the_packs_newest(class_type):
    latest = default_registry().get(class_type).latest
    assert [(w.name, w.default) for w in latest.widgets] == NEWEST_WIDGETS[class_type]


def _saved_value(w):
    if w.default is not None:
        return w.default
    if w.options:
        return w.options[0]
    return "model.safetensors" if w.options_from or w.type == "COMBO" else {"INT": 1, "FLOAT": 1.0}.get(w.type, "s")


@pytest.mark.parametrize("class_type", sorted(NEWEST_WIDGETS))
def test_saves_of_every_signature_bind_in_place(class_type):
    """A widget list of each signature's length binds each value to its own input (or the
    name it was renamed to), none left over."""
    spec = default_registry().get(class_type)
    for sig in spec.signatures:
        values = [_saved_value(w) for w in sig.widgets]
        binding = bind(spec, values, choose_signature(spec, values))
        assert list(binding.values.values()) == values and not binding.unbound, (class_type, sig.date)
        assert list(binding.values) == [RENAMED.get(w.name, w.name) if w.name not in binding.values else w.name
                                        for w in sig.widgets], (class_type, sig.date)


# --- WanVideoEverAnimateEmbeds ---------------------------------------------------------------------

W, H = 48, 32
LH, LW = H // 8, W // 8


@pytest.fixture(scope="module")
def ctx(tiny_models) -> ExecContext:
    return animate_context(tiny_models)


@pytest.fixture(scope="module")
def vae(ctx):
    return tiny_vae(ctx)


def _images(frames: int, h: int = H, w: int = W, seed: int = 0) -> torch.Tensor:
    return torch.rand(frames, h, w, 3, generator=torch.Generator().manual_seed(seed))


def _enc(ctx, vae, images: torch.Tensor) -> torch.Tensor:
    return encode_video(vae, images.permute(3, 0, 1, 2) * 2 - 1, ctx.device).float()


def _latent(frames: int, seed: int) -> dict:
    return {"samples": torch.randn(1, 16, frames, LH, LW, generator=torch.Generator().manual_seed(seed))}


def ever(ctx, vae, **kw):
    return node("WanVideoEverAnimateEmbeds")(ctx, vae=vae, width=W, height=H, **kw)[0]


def test_one_anchor_and_no_motion_is_the_animate_node(ctx, vae):
    frames = 9
    inputs = dict(num_frames=frames, frame_window_size=frames, ref_images=_images(1, seed=1),
                  pose_images=_images(frames, seed=2), face_images=_images(frames, 40, 40, seed=4),
                  mask=(torch.rand(frames, H, W, generator=torch.Generator().manual_seed(5)) > 0.5).float(),
                  pose_strength=0.5, face_strength=2.0)
    (plain,) = node("WanVideoAnimateEmbeds")(ctx, vae=vae, width=W, height=H, **inputs)
    emb = ever(ctx, vae, num_video_anchor_latents=1, num_motion_latents=0, **inputs)
    assert (emb.num_frames, emb.target_shape, emb.max_seq_len) == (plain.num_frames, plain.target_shape,
                                                                   plain.max_seq_len)
    torch.testing.assert_close(emb.image_embeds, plain.image_embeds)
    torch.testing.assert_close(emb.animate.pose_latents, plain.animate.pose_latents)
    torch.testing.assert_close(emb.animate.face_pixels, plain.animate.face_pixels)
    assert emb.animate.masked and (emb.animate.pose_strength, emb.animate.face_strength) == (0.5, 2.0)


def test_anchors_motion_slots_and_background_by_hand(ctx, vae):
    frames, n, m = 9, 2, 2
    ref, bg = _images(2, seed=1), _images(frames, seed=3)
    anchors, prev = _latent(3, seed=6), _latent(3, seed=7)
    emb = ever(ctx, vae, num_frames=frames + 2, frame_window_size=81, num_video_anchor_latents=n,
               num_motion_latents=m, ref_images=ref, bg_images=bg, video_anchor_latent=anchors,
               prev_last_latent=prev)
    video = (frames - 1) // 4 + 1                               # 3 latent frames, then the 2 anchors in front
    assert emb.num_frames == frames + 4 * n and emb.target_shape == (16, video + n, LH, LW)
    y = emb.image_embeds
    assert y.shape == (20, video + n, LH, LW)
    assert y[:4, :n].eq(1).all() and torch.equal(y[4:, :n], anchors["samples"][0, :, :n])  # cut to N
    assert y[:4, n:n + m].eq(1).all() and torch.equal(y[4:, n:n + m], prev["samples"][0, :, -m:])  # last M
    torch.testing.assert_close(y[4:, n + m:], _enc(ctx, vae, bg)[:, m:])
    assert y[:4, n + m:].eq(0).all()                            # no mask: every background frame to make
    assert emb.animate.pose_latents is None and emb.animate.face_pixels is None


def test_clip_zero_repeats_the_reference_and_zero_motion(ctx, vae):
    frames, n = 5, 3
    ref = _images(1, seed=1)
    emb = ever(ctx, vae, num_frames=frames, num_video_anchor_latents=n, num_motion_latents=1, ref_images=ref,
               bg_images=_images(frames, seed=3), anchor_select_mode="pose_triangle")  # falls back, as the pack
    y, user = emb.image_embeds, _enc(ctx, vae, ref)
    for slot in range(n):
        torch.testing.assert_close(y[4:, slot:slot + 1], user)
    assert y[:4, n].eq(1).all() and y[4:, n].eq(0).all()       # the motion slot: known, and zero at clip 0


def test_a_short_anchor_latent_repeats_its_last_and_a_short_motion_too(ctx, vae):
    anchors, prev = _latent(1, seed=8), _latent(1, seed=9)
    emb = ever(ctx, vae, num_frames=9, num_video_anchor_latents=2, num_motion_latents=2,
               ref_images=_images(1), bg_images=_images(9, seed=3), video_anchor_latent=anchors,
               prev_last_latent=prev)
    y = emb.image_embeds
    for slot in (0, 1):
        assert torch.equal(y[4:, slot], anchors["samples"][0, :, 0])
    for slot in (2, 3):
        assert torch.equal(y[4:, slot], prev["samples"][0, :, 0])


def test_pose_and_face_that_fit_the_anchors_are_taken(ctx, vae):
    frames, n = 5, 2                                            # 2 video latents + 2 anchors
    emb = ever(ctx, vae, num_frames=frames, num_video_anchor_latents=n, ref_images=_images(1),
               bg_images=_images(frames, seed=3), pose_images=_images(frames + 4, seed=2),
               face_images=_images(9, 512, 512, seed=4))
    assert emb.animate.pose_latents.shape[1] == 3               # every latent frame after the first
    assert emb.animate.face_pixels.shape[2] == 9                # ceil(9 / 4) + 1 = 4 face frames


@pytest.mark.parametrize("inputs, culprit", [
    (dict(num_frames=81, frame_window_size=77), "frame_window_size"),
    (dict(ref_images=None), "ref_images"),
    (dict(num_video_anchor_latents=4), "num_video_anchor_latents"),      # black background: 5 + 12 frames
    (dict(bg_images=_images(13, seed=3)), "bg_images"),
    (dict(bg_images=_images(5, seed=3), pose_images=_images(5, seed=2)), "pose_images"),
    (dict(bg_images=_images(5, seed=3), face_images=_images(5, 512, 512)), "face_images"),
    (dict(bg_images=_images(5, seed=3), video_anchor_latent={"samples": torch.zeros(1, 16, 2, LH + 1, LW)}),
     "video_anchor_latent"),
    (dict(bg_images=_images(5, seed=3), prev_last_latent={"samples": torch.zeros(2, 16, 2, LH, LW)}),
     "prev_last_latent"),
])
def test_what_the_pack_cannot_line_up_is_refused_by_name(ctx, vae, inputs, culprit):
    base = dict(num_frames=5, num_video_anchor_latents=2, ref_images=_images(1))
    with pytest.raises(NodeInputError) as err:
        ever(ctx, vae, **{**base, **inputs})
    assert err.value.input_name == culprit


def _text():
    g = torch.Generator().manual_seed(9)
    return TextEmbeds(prompt_embeds=(torch.randn(5, 32, generator=g),),
                      negative_prompt_embeds=(torch.randn(4, 32, generator=g),))


def test_the_sampler_makes_the_anchors_and_the_video(ctx, vae, monkeypatch):
    model = node("WanVideoModelLoader")(ctx, model=KIJAI.name, base_precision="fp32", load_device="main_device")[0]
    emb = ever(ctx, vae, num_frames=5, num_video_anchor_latents=2, ref_images=_images(1),
               bg_images=_images(5, seed=3), pose_images=_images(9, seed=2), mask=torch.ones(5, H, W))
    calls = []
    real = loop_module.transformer_forward

    def spy(transformer, z, t, context, clip, options):
        calls.append((z.shape, options))
        return real(transformer, z, t, context, clip, options)

    monkeypatch.setattr(loop_module, "transformer_forward", spy)
    (latent, _) = node("WanVideoSampler")(ctx, model=model, image_embeds=emb, text_embeds=_text(), steps=1, cfg=1.0,
                                          shift=5.0, seed=1, scheduler="unipc")
    assert latent["samples"].shape[2] == 4                      # 2 anchors + 2 video latents
    ((shape, options),) = calls
    assert shape[1] == 36 and shape[2] == 4                     # noise + the embeds' y, frame for frame
    assert options.face.shape == (1, 3, emb.num_frames - 1, 512, 512) and options.face.eq(0).all()
    torch.testing.assert_close(options.pose[0], emb.animate.pose_latents)
    # the pack's zero crops: ceil((F + 4N - 1) / 4) + 1 face frames = the latent's 4
    assert -(-(emb.num_frames - 1) // 4) + 1 == 4


def _everanimate_prompt(anchors: int) -> dict:
    """An API prompt: the tiny Animate model, EverAnimate embeds of one reference image (no
    background video), the sampler, decode and save."""
    return {
        "1": {"class_type": "WanVideoModelLoader", "inputs": {
            "model": "Wan2_2-Animate-14B_fp8_e4m3fn_scaled_KJ.safetensors", "base_precision": "bf16",
            "quantization": "disabled", "load_device": "offload_device", "attention_mode": "sdpa"}},
        "2": {"class_type": "WanVideoVAELoader", "inputs": {"model_name": "Wan2_1_VAE_bf16.safetensors",
                                                            "precision": "bf16"}},
        "3": {"class_type": "LoadWanVideoT5TextEncoder", "inputs": {
            "model_name": "umt5-xxl-enc-bf16.safetensors", "precision": "bf16"}},
        "4": {"class_type": "WanVideoTextEncode", "inputs": {"positive_prompt": "a dancer", "negative_prompt": "",
                                                             "t5": ["3", 0]}},
        "5": {"class_type": "LoadImage", "inputs": {"image": "ref.png"}},
        "6": {"class_type": "WanVideoEverAnimateEmbeds", "inputs": {
            "vae": ["2", 0], "width": 832, "height": 480, "num_frames": 81, "force_offload": True,
            "frame_window_size": 81, "colormatch": "disabled", "pose_strength": 1.0, "face_strength": 1.0,
            "num_video_anchor_latents": anchors, "num_motion_latents": 1, "anchor_select_mode": "repeat_user",
            "ref_images": ["5", 0]}},
        "7": {"class_type": "WanVideoSampler", "inputs": {
            "model": ["1", 0], "image_embeds": ["6", 0], "text_embeds": ["4", 0], "steps": 2, "cfg": 1.0,
            "shift": 5.0, "seed": 1, "force_offload": True, "scheduler": "unipc", "riflex_freq_index": 0}},
        "8": {"class_type": "WanVideoDecode", "inputs": {
            "vae": ["2", 0], "samples": ["7", 0], "enable_vae_tiling": False, "tile_x": 272, "tile_y": 272,
            "tile_stride_x": 144, "tile_stride_y": 128}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "ever"}},
    }


def test_several_anchors_on_a_black_background_are_refused_before_anything_loads(tmp_path):
    import json

    from click.testing import CliRunner

    from wfrun.cli import main

    path = tmp_path / "ever.json"
    path.write_text(json.dumps(_everanimate_prompt(4)))
    result = CliRunner().invoke(main, ["run", str(path), "--smoke", "--tiny-models", "-o", str(tmp_path / "out")],
                                env={"WFRUN_CACHE": str(tmp_path / "cache")})
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "must be fixed before running" in result.output and not any((tmp_path / "out").rglob("ever_*"))
    assert "node 6" in result.output and "'bg_images'" in result.output
    assert "num_video_anchor_latents to 1" in result.output
