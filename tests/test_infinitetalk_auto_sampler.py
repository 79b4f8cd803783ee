"""vjumpkung's InfiniteTalkAutoSampler: ComfyUI's InfiniteTalk run in passes until the audio is
covered. The reference here is the pack's loop written out by hand over wfrun's core nodes
(WanInfiniteTalkToVideo, KSampler, VAEDecode): the pass count from the audio length by the
pack's formula, the base pass from the start image, each extension from every frame so far
with seed + i + 1, its first motion_frame_count decoded frames dropped, the whole cut to the
audio's frames."""

from __future__ import annotations

import math

import pytest
import torch

from tests.node_helpers import node
from wfrun.models.multitalk import load_multitalk, write_tiny
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.infinitetalk_native_sampler.nodes import pass_counts


@pytest.fixture(scope="module")
def parts(tiny_models, tmp_path_factory):
    ctx = ExecContext(models=ModelRoots.from_options(tiny_models), device="cpu", offload_device="cpu")
    (model,) = node("UNETLoader")(ctx, unet_name="Wan2_1-I2V-14B-480P_tiny_fp8_e4m3fn.safetensors",
                                  weight_dtype="default")
    (vae,) = node("VAELoader")(ctx, vae_name="Wan2_1_VAE_tiny_fp32.safetensors")
    folder = tmp_path_factory.mktemp("patch")
    patch = load_multitalk(write_tiny(folder / "it.safetensors", seed=3, dtype=torch.float32,
                                      dim=model.transformer.config.num_attention_heads
                                      * model.transformer.config.attention_head_dim,
                                      blocks=len(model.transformer.blocks)))
    text = [[torch.randn(1, 6, model.transformer.config.text_dim, generator=torch.Generator().manual_seed(0)), {}]]
    g = torch.Generator().manual_seed(5)
    enc = {"encoded_audio_all_layers": tuple(torch.randn(1, 30, 32, generator=g) for _ in range(3))}
    start = torch.rand(1, 32, 32, 3, generator=g)
    return ctx, model, vae, patch, text, enc, start


def test_pass_counts_by_the_packs_formula():
    audio = {"waveform": torch.zeros(1, 1, 16000 * 3 + 1), "sample_rate": 16000}  # a little over 3 s: 76 frames
    assert pass_counts(audio, 81, 9) == (76, 0)
    assert pass_counts(audio, 33, 9) == (76, math.ceil((76 - 33) / 24))  # 2 extensions
    with pytest.raises(NodeInputError) as err:
        pass_counts(audio, 9, 9)
    assert err.value.input_name == "length"


def test_the_node_is_the_packs_loop_over_the_core_nodes(parts):
    ctx, model, vae, patch, text, enc, start = parts
    audio = {"waveform": torch.zeros(1, 1, 8000), "sample_rate": 16000}  # 0.5 s: 13 frames
    args = dict(width=32, height=32, length=5, motion_frame_count=1, audio_scale=1.0)
    sampling = dict(steps=1, cfg=1.0, sampler_name="euler", scheduler="simple", denoise=1.0)
    (images, audio_out) = node("InfiniteTalkAutoSampler")(
        ctx, model=model, model_patch=patch, positive=text, negative=text, vae=vae, audio_encoder_output_1=enc,
        audio=audio, seed=7, start_image=start, **args, **sampling)
    assert audio_out is audio

    def one(seed, previous):
        m, pos, neg, latent, trim = node("WanInfiniteTalkToVideo")(
            ctx, mode="single_speaker", model=model, model_patch=patch, positive=text, negative=text, vae=vae,
            audio_encoder_output_1=enc, start_image=start, previous_frames=previous, **args)
        (out,) = node("KSampler")(ctx, model=m, seed=seed, positive=pos, negative=neg, latent_image=latent, **sampling)
        (frames,) = node("VAEDecode")(ctx, samples=out, vae=vae)
        return frames[trim:]

    frames = one(7, None)  # 5 frames; extensions add 4 each: ceil((13 - 5) / 4) = 2
    for i in range(2):
        frames = torch.cat([frames, one(7 + i + 1, frames)])
    assert frames.shape[0] == 13 and images.shape == frames.shape
    torch.testing.assert_close(images, frames, rtol=0, atol=0)


@pytest.mark.parametrize("change, name", [({"mask_1": torch.ones(1, 32, 32)}, "audio_encoder_output_2"),
                                          ({"framerate": 30}, "framerate"),
                                          ({"start_image": None}, "start_image")])
def test_what_the_node_cannot_run_names_its_input(parts, change, name):
    ctx, model, vae, patch, text, enc, start = parts
    inputs = dict(model=model, model_patch=patch, positive=text, negative=text, vae=vae, audio_encoder_output_1=enc,
                  audio={"waveform": torch.zeros(1, 1, 4000), "sample_rate": 16000}, seed=1, start_image=start,
                  width=32, height=32, length=5, motion_frame_count=1, audio_scale=1.0, steps=1, cfg=1.0,
                  sampler_name="euler", scheduler="simple", denoise=1.0)
    with pytest.raises(NodeInputError) as err:
        node("InfiniteTalkAutoSampler")(ctx, **{**inputs, **change})
    assert err.value.input_name == name
