"""Wan 2.2 TI2V-5B on ComfyUI-WanVideoWrapper's path (issue 14 item 2).

- ``wfrun run --smoke`` of a wrapper 5B text-to-video workflow (the pack's T2V example with
  Kijai's 5B model and Wan 2.2 VAE files) and an image-to-video one (WanVideoEncode's
  latents of the start image into WanVideoEmptyEmbeds' ``extra_latents``, as the pack's 5B
  I2V example) write 9 frames of 64x64: 3 latent frames of 4x4 at the Wan 2.2 VAE's 4x16x16.
- The start image, against the official Wan 2.2 code (``wan/textimage2video.py``, written
  out here): the first latent frame is the encoded image, ``(1 - mask2) * z + mask2 * noise``;
  the per-token timestep is ``mask2 * t`` on the 2x2 patch grid; the first frame is put
  back after every step — a whole run equals that loop on diffusers' own forward.
- The wrapper's 5B prediction equals ComfyUI core's (``WanPredictor`` under the noise mask of
  Wan22ImageToVideoLatent) on the same tiny file and inputs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from diffusers import WanTransformer3DModel

from node_helpers import node
from run_helpers import CORPUS_WAN
from wfrun.cli import main
from wfrun.jobs.smoke import MAX_FRAMES
from wfrun.media.video import iter_frames
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.comfy_core_models.model_input import WanPredictor
from wfrun.sampling.conditioning import ImageEmbeds, TextEmbeds
from wfrun.sampling.loop import SamplingError, SamplingRequest, _timestep, predict, prepare, sample

TEXT_DIM = 24


def tiny_5b(layers: int = 2) -> WanTransformer3DModel:
    """A TI2V-5B-shaped transformer: 48 latent channels in and out, no image projection."""
    torch.manual_seed(0)
    return WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=16, in_channels=48,
                                 out_channels=48, text_dim=TEXT_DIM, freq_dim=16, ffn_dim=48, num_layers=layers,
                                 cross_attn_norm=True).eval()


def text(dim: int = TEXT_DIM) -> TextEmbeds:
    g = torch.Generator().manual_seed(3)
    return TextEmbeds(prompt_embeds=(torch.randn(7, dim, generator=g),),
                      negative_prompt_embeds=(torch.randn(5, dim, generator=g),))


def empty_embeds(width: int = 64, height: int = 64, frames: int = 9, extra: dict | None = None) -> ImageEmbeds:
    (embeds,) = node("WanVideoEmptyEmbeds")(ExecContext(), width=width, height=height, num_frames=frames,
                                            extra_latents=extra)
    return embeds


def encoded(seed: int = 11) -> dict:
    """WanVideoEncode's LATENT of one start image for a 64x64 5B video: [1, 48, 1, 4, 4]."""
    z = torch.randn(1, 48, 1, 4, 4, generator=torch.Generator().manual_seed(seed))
    return {"samples": z, "mask": None, "empty_latent_indices": []}


def request(model, embeds: ImageEmbeds, **kw) -> SamplingRequest:
    base = dict(transformer=model, image_embeds=embeds, text_embeds=text(), steps=3, cfg=1.0, shift=5.0, seed=7,
                scheduler="euler")
    base.update(kw)
    return SamplingRequest(**base)


def official_mask(latent_shape: tuple[int, ...]) -> torch.Tensor:
    """Wan 2.2's ``masks_like(zero=True)``: ones, the first latent frame zero."""
    mask = torch.ones(latent_shape)
    mask[:, 0] = 0
    return mask


def padded(prompt: torch.Tensor, length: int = 512) -> torch.Tensor:
    """The official WanModel's text: zeros after the prompt up to 512 tokens."""
    return torch.cat([prompt, prompt.new_zeros(length - prompt.shape[0], prompt.shape[1])]).unsqueeze(0)


# --- latents and noise ------------------------------------------------------------------------

@torch.no_grad()
def test_t2v_noise_is_the_packs_48_channel_draw_at_a_sixteenth_of_the_size():
    model = tiny_5b()
    p = prepare(request(model, empty_embeds(64, 64, 9)))
    expected = torch.randn(48, 3, 4, 4, generator=torch.Generator("cpu").manual_seed(7))
    torch.testing.assert_close(p.latent, expected, rtol=0, atol=0)
    assert _timestep(p, p.timesteps[0]).shape == (1,)  # text-to-video: one timestep, as the pack
    out = sample(request(model, empty_embeds(64, 64, 9)))
    assert out["samples"].shape == (1, 48, 3, 4, 4) and torch.isfinite(out["samples"]).all()


def test_sizes_that_do_not_split_into_patches_are_refused_with_the_multiple_to_use():
    with pytest.raises(SamplingError) as err:
        prepare(request(tiny_5b(), empty_embeds(64, 48, 9)))  # 48 px: 3 latents, not 2x2 patches
    assert "multiples of 32" in err.value.hint


@torch.no_grad()
def test_i2v_first_frame_and_per_token_timestep_are_the_official_ones():
    model = tiny_5b()
    extra = encoded()
    p = prepare(request(model, empty_embeds(extra=extra)))
    noise = torch.randn(48, 3, 4, 4, generator=torch.Generator("cpu").manual_seed(7))
    mask2 = official_mask(noise.shape)
    z = extra["samples"][0]
    torch.testing.assert_close(p.latent, (1.0 - mask2) * z.expand_as(noise) + mask2 * noise, rtol=0, atol=0)
    tokens_per_frame = 2 * 2  # 4x4 latents in 2x2 patches
    for t in p.timesteps:
        per_frame = _timestep(p, t)
        assert per_frame.shape == (1, 3)
        official = (mask2[0][:, ::2, ::2] * t).flatten()
        torch.testing.assert_close(per_frame[0].repeat_interleave(tokens_per_frame), official)


@torch.no_grad()
@pytest.mark.parametrize("scheduler", ["euler", "flowmatch_pusa"])
def test_i2v_run_equals_the_official_loop_on_diffusers_forward(scheduler):
    model = tiny_5b()
    extra = encoded()
    out = sample(request(model, empty_embeds(extra=extra), scheduler=scheduler))["samples"][0]
    p = prepare(request(model, empty_embeds(extra=extra), scheduler=scheduler))
    # the official loop: per-token timesteps, Euler on every frame, the first frame put back
    z = extra["samples"][0].expand(48, 3, 4, 4)
    mask2 = official_mask(z.shape)
    latent = p.latent.clone()
    context = padded(text().prompt_embeds[0])
    sigmas = [float(t) / 1000 for t in p.timesteps] + [0.0]
    for i, t in enumerate(p.timesteps):
        per_token = (mask2[0][:, ::2, ::2] * t).flatten().unsqueeze(0)
        v = model(latent.unsqueeze(0), per_token, context, return_dict=False)[0][0]
        latent = latent + v * (sigmas[i + 1] - sigmas[i])
        latent = (1.0 - mask2) * z + mask2 * latent
    torch.testing.assert_close(out, latent, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(out[:, :1], extra["samples"][0], rtol=0, atol=0)  # held exactly as encoded


def test_context_windows_with_a_start_image_are_refused():
    from wfrun.sampling.conditioning import ContextOptions, SamplerOptions

    req = request(tiny_5b(), empty_embeds(extra=encoded()),
                  options=SamplerOptions(context=ContextOptions(context_frames=5, context_overlap=4)))
    with pytest.raises(SamplingError) as err:
        prepare(req)
    assert err.value.input_name == "context_options"


def test_extra_latents_of_another_size_are_refused():
    wrong = {"samples": torch.zeros(1, 48, 1, 2, 2), "mask": None, "empty_latent_indices": []}
    with pytest.raises(SamplingError) as err:
        prepare(request(tiny_5b(), empty_embeds(extra=wrong)))
    assert "do not fit" in str(err.value)


# --- the nodes on the tiny files -----------------------------------------------------------------

@pytest.fixture(scope="module")
def ctx(tiny_models) -> ExecContext:
    return ExecContext(models=ModelRoots.from_options(tiny_models))


@pytest.fixture(scope="module")
def wrapper_model(ctx):
    (model,) = node("WanVideoModelLoader")(ctx, model="Wan2_2-TI2V-5B_tiny_bf16.safetensors", base_precision="fp32",
                                           quantization="disabled", load_device="main_device")
    return model


def test_the_wrapper_loader_calls_the_5b_a_t2v_model_of_48_latent_channels(wrapper_model):
    assert wrapper_model.model_type == "t2v" and wrapper_model.latent_channels == 48


def test_image_embeds_for_the_5b_are_refused_by_the_sampler(ctx, wrapper_model):
    y = ImageEmbeds(num_frames=9, image_embeds=torch.zeros(20, 3, 8, 8), lat_h=8, lat_w=8, max_seq_len=48)
    with pytest.raises(NodeInputError) as err:
        node("WanVideoSampler")(ctx, model=wrapper_model, image_embeds=y, text_embeds=None, steps=1, cfg=1.0,
                                shift=5.0, seed=1, scheduler="euler")
    assert err.value.input_name == "image_embeds" and "extra_latents" in (err.value.hint or "")


@torch.no_grad()
def test_wrapper_and_core_denoise_alike_under_the_start_image(ctx):
    """One prediction of the same tiny file: the wrapper's (extra latents, timestep 0 on the
    first frame) and ComfyUI core's (Wan22ImageToVideoLatent's noise mask, ``WAN22``'s
    per-frame timestep) — both packs give the model the same latents, text and timesteps."""
    name = "wan2.2_ti2v_5B_tiny_fp16.safetensors"  # ComfyUI's repackaged file: both packs load it
    (core,) = node("UNETLoader")(ctx, unet_name=name, weight_dtype="default")
    (wrapper,) = node("WanVideoModelLoader")(ctx, model=name, base_precision="fp32", quantization="disabled",
                                             load_device="main_device")
    core_tr, wrap_tr = core.transformer, wrapper.transformer
    for (name, a), b in zip(core_tr.state_dict().items(), wrap_tr.state_dict().values()):
        torch.testing.assert_close(a.float(), b.float(), msg=name)  # the same weights
    dim = int(wrap_tr.config.text_dim)
    prompt = text(dim)
    extra = encoded()
    p = prepare(request(wrap_tr, empty_embeds(extra=extra), text_embeds=prompt, dtype=torch.float32))
    x = p.latent
    t = p.timesteps[1]
    wrapper_out = predict(p, x, 1.0, p.text.positive, _timestep(p, t), 1, None, None, [None, None, None], False)

    mask = torch.ones(1, 1, 3, 4, 4)
    mask[:, :, 0] = 0  # Wan22ImageToVideoLatent: the given frame is not denoised
    positive = [[padded(prompt.prompt_embeds[0]), {}]]
    negative = [[padded(prompt.negative_prompt_embeds[0]), {}]]
    predictor = WanPredictor(core, positive, negative, "cpu", denoise_mask=mask)
    core_out = predictor(x.unsqueeze(0), t.reshape(1).float(), "cond")[0]
    torch.testing.assert_close(wrapper_out, core_out.to(wrapper_out), rtol=1e-4, atol=1e-4)


@torch.no_grad()
def test_image_to_video_encode_with_the_wan22_vae_works_at_its_sixteenth_size(ctx):
    """The pack's WanVideoImageToVideoEncode sizes the mask by ``vae.upsampling_factor``:
    with the Wan 2.2 VAE (16 px a latent, 48 channels) 4 mask channels + 48 latent channels
    at H/16 x W/16 — the 52 a Wan 2.2 Fun InP 5B model takes beside its noise."""
    from wfrun.packs.wanvideo.image_ops import common_upscale
    from wfrun.packs.wanvideo.vae import encode_video

    (vae,) = node("WanVideoVAELoader")(ctx, model_name="Wan2_2_VAE_tiny_bf16.safetensors", precision="fp32")
    g = torch.Generator().manual_seed(3)
    start, end = torch.rand(1, 48, 72, 3, generator=g), torch.rand(1, 48, 72, 3, generator=g)  # resized: lanczos
    (emb,) = node("WanVideoImageToVideoEncode")(ctx, vae=vae, width=96, height=64, num_frames=9, start_image=start,
                                                end_image=end, fun_or_fl2v_model=True, force_offload=False,
                                                noise_aug_strength=0.0, start_latent_strength=1.0,
                                                end_latent_strength=1.0, tiled_vae=False)
    assert (emb.lat_h, emb.lat_w) == (4, 6) and emb.image_embeds.shape == (52, 3, 4, 6)
    assert emb.max_seq_len == 3 * (4 * 6 // 4)
    # the mask by hand: pixel frames 0 and 8 known; frame 0 repeated 4 times, then groups of 4
    known = [1.0] * 4 + [0.0] * 7 + [1.0]
    want_mask = torch.tensor(known).view(3, 4).T[:, :, None, None].expand(4, 3, 4, 6)
    torch.testing.assert_close(emb.image_embeds[:4], want_mask)
    start, end = (common_upscale(i.movedim(-1, 1), 96, 64, "lanczos").movedim(0, 1) for i in (start, end))
    video = torch.cat([start * 2 - 1, torch.zeros(3, 7, 64, 96), end * 2 - 1], dim=1)  # 0: grey between
    torch.testing.assert_close(emb.image_embeds[4:], encode_video(vae, video, "cpu"), rtol=1e-4, atol=1e-4)


def _fun_inp_5b_prompt(tmp_path: Path) -> Path:
    """A wrapper Wan 2.2 Fun InP 5B prompt (start and end image, Wan 2.2 VAE), in the shape
    of a shared API workflow (jeffwurfel-ttf, wan22_fun_inpaint_wrapper)."""
    prompt = json.loads(_i2v_prompt(tmp_path).read_text(encoding="utf-8"))
    prompt["3"]["inputs"]["model"] = "wan2.2_fun_inpaint_5B_bf16.safetensors"
    prompt["12"] = {"class_type": "LoadImage", "inputs": {"image": "end.png"}}
    prompt["8"] = {"class_type": "WanVideoImageToVideoEncode",
                   "inputs": {"width": 1280, "height": 704, "num_frames": 81, "noise_aug_strength": 0.0,
                              "start_latent_strength": 1.0, "end_latent_strength": 1.0, "force_offload": True,
                              "fun_or_fl2v_model": True, "tiled_vae": False, "augment_empty_frames": 0.0,
                              "vae": ["4", 0], "start_image": ["5", 0], "end_image": ["12", 0]}}
    del prompt["6"], prompt["7"]
    path = tmp_path / "wrapper_fun_inp_5b.json"
    path.write_text(json.dumps(prompt), encoding="utf-8")
    return path


# --- whole workflows with --smoke ----------------------------------------------------------------

def fit_5b(width: int, height: int) -> tuple[int, int]:
    """The smoke cap (longer side to 64, aspect kept, multiples of 16, each at least the
    wrapper's 64 px minimum) for a size, written out: 1280x704 -> 64x(35.2 -> 32 -> 64)."""
    scale = 64 / max(width, height)
    return tuple(max(64, 16 * round(v * scale / 16)) for v in (width, height))


def _t2v_workflow(tmp_path: Path) -> Path:
    """The pack's T2V example with the 5B files of Kijai's release and a square video."""
    doc = json.loads((CORPUS_WAN / "2025-06-13_ad43eed_wanvideo_T2V_example_02.json").read_text(encoding="utf-8"))
    for n in doc["nodes"]:
        if n["type"] == "WanVideoModelLoader":
            n["widgets_values"][0] = "WanVideo\\2_2\\Wan2_2-TI2V-5B_fp16.safetensors"
        elif n["type"] == "WanVideoVAELoader":
            n["widgets_values"][0] = "wanvideo\\Wan2_2_VAE_bf16.safetensors"
        elif n["type"] == "WanVideoEmptyEmbeds":
            n["widgets_values"][:3] = [1024, 1024, 121]
    path = tmp_path / "wrapper_5b_t2v.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def _i2v_prompt(tmp_path: Path) -> Path:
    """A wrapper 5B image-to-video prompt in the pack example's shape: the start image encoded
    with the Wan 2.2 VAE into WanVideoEmptyEmbeds' extra latents."""
    prompt = {
        "1": {"class_type": "LoadWanVideoT5TextEncoder",
              "inputs": {"model_name": "umt5-xxl-enc-bf16.safetensors", "precision": "bf16",
                         "load_device": "offload_device", "quantization": "disabled"}},
        "2": {"class_type": "WanVideoTextEncode",
              "inputs": {"positive_prompt": "a red panda", "negative_prompt": "blurry", "force_offload": True,
                         "t5": ["1", 0]}},
        "3": {"class_type": "WanVideoModelLoader",
              "inputs": {"model": "WanVideo\\2_2\\Wan2_2-TI2V-5B_fp16.safetensors", "base_precision": "fp16_fast",
                         "quantization": "disabled", "load_device": "offload_device", "attention_mode": "sdpa"}},
        "4": {"class_type": "WanVideoVAELoader",
              "inputs": {"model_name": "wanvideo\\Wan2_2_VAE_bf16.safetensors", "precision": "bf16"}},
        "5": {"class_type": "LoadImage", "inputs": {"image": "start.png"}},
        "6": {"class_type": "ImageScale",
              "inputs": {"image": ["5", 0], "upscale_method": "lanczos", "width": 1024, "height": 1024,
                         "crop": "center"}},
        "7": {"class_type": "WanVideoEncode",
              "inputs": {"vae": ["4", 0], "image": ["6", 0], "enable_vae_tiling": False, "tile_x": 272,
                         "tile_y": 272, "tile_stride_x": 144, "tile_stride_y": 128, "noise_aug_strength": 0.0,
                         "latent_strength": 1.0}},
        "8": {"class_type": "WanVideoEmptyEmbeds",
              "inputs": {"width": 1024, "height": 1024, "num_frames": 121, "extra_latents": ["7", 0]}},
        "9": {"class_type": "WanVideoSampler",
              "inputs": {"model": ["3", 0], "image_embeds": ["8", 0], "text_embeds": ["2", 0], "steps": 30,
                         "cfg": 5.0, "shift": 8.0, "seed": 47, "force_offload": True, "scheduler": "unipc",
                         "riflex_freq_index": 0, "denoise_strength": 1.0, "batched_cfg": False,
                         "rope_function": "comfy", "start_step": 0, "end_step": -1, "add_noise_to_samples": False}},
        "10": {"class_type": "WanVideoDecode",
               "inputs": {"vae": ["4", 0], "samples": ["9", 0], "enable_vae_tiling": False, "tile_x": 272,
                          "tile_y": 272, "tile_stride_x": 144, "tile_stride_y": 128}},
        "11": {"class_type": "VHS_VideoCombine",
               "inputs": {"images": ["10", 0], "frame_rate": 24, "loop_count": 0, "filename_prefix": "ti2v5b",
                          "format": "video/h264-mp4", "pingpong": False, "save_output": True}},
    }
    path = tmp_path / "wrapper_5b_i2v.json"
    path.write_text(json.dumps(prompt), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("wfrun-cache")


@pytest.mark.parametrize("make, size", [(_t2v_workflow, (64, 64)), (_i2v_prompt, (64, 64)),
                                        (_fun_inp_5b_prompt, fit_5b(1280, 704))], ids=["t2v", "i2v", "fun-inp"])
def test_wrapper_5b_workflow_runs_with_smoke_and_writes_9_frames_of_64x64(make, size, tmp_path, cache):
    path = make(tmp_path)
    result = CliRunner().invoke(main, ["run", str(path), "--smoke", "-o", str(tmp_path / "out"), "--device", "cpu",
                                       "--format", "json"], env={"WFRUN_CACHE": str(cache)})
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    videos = [Path(p) for p in report["written"] if Path(p).suffix == ".mp4"]
    assert videos, report["written"]
    frames = list(iter_frames(videos[0]))
    # smoke: 121 frames -> 9 (3 latent frames), 1024 px -> 64 (4 latents of 16 px)
    assert len(frames) == MAX_FRAMES == 9
    assert frames[0].shape[:2] == size[::-1]


def test_validate_does_not_take_a_ti2v_name_for_an_image_to_video_model(tmp_path):
    """TI2V-5B runs from WanVideoEmptyEmbeds for both tasks: its name's "i2v" is no I2V model."""
    result = CliRunner().invoke(main, ["validate", str(_t2v_workflow(tmp_path))])
    assert "embeds-mismatch" not in result.output, result.output
