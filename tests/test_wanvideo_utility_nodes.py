"""The wrapper's small value nodes (``packs.wanvideo.utility_nodes``) against references
outside wfrun's code: block lists and float schedules worked by hand from the pack's rules,
latent statistics from diffusers' ``AutoencoderKLWan`` defaults, loudness from BS.1770's
own fact that a full-scale 1 kHz sine in one front channel reads -3.01 LKFS."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
import torch

from node_helpers import node
from wfrun.media.loudness import integrated_loudness
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.wanvideo.types import ImageEmbeds

CTX = ExecContext()


def test_block_list_reads_numbers_ranges_and_lines_in_order():
    (blocks,) = node("WanVideoBlockList")(CTX, blocks="0, 2,4-6\n\n 9,3-3,")
    assert blocks == [0, 2, 4, 5, 6, 9, 3]
    with pytest.raises(NodeInputError) as err:
        node("WanVideoBlockList")(CTX, blocks="1,x")
    assert err.value.input_name == "blocks"


def test_schedule_float_list_by_hand():
    # steps 5, window 20 %..80 %: indices int(1.0)=1 .. int(4.0)=4, t = 0, 1/3, 2/3, 1; step 0 keeps the default
    (values,) = node("CreateScheduleFloatList")(CTX, steps=5, start_value=1.0, end_value=5.0, default_value=0.5,
                                                interpolation="linear", start_percent=0.2, end_percent=0.8)
    assert values == [0.5, 1.0, 2.33, 3.67, 5.0]
    # ease_in over all 3 steps: t = 0, 0.5, 1 → 1 + t² * 4
    (values,) = node("CreateScheduleFloatList")(CTX, steps=3, start_value=1.0, end_value=5.0, default_value=0.0,
                                                interpolation="ease_in", start_percent=0.0, end_percent=1.0)
    assert values == [1.0, 2.0, 5.0]
    # a window of one step (start == end index): its start value; the rest the default
    (values,) = node("CreateScheduleFloatList")(CTX, steps=4, start_value=3.0, end_value=9.0, default_value=7.0,
                                                interpolation="ease_out", start_percent=0.5, end_percent=0.5)
    assert values == [7.0, 7.0, 3.0, 7.0]


def test_latent_rescale_uses_the_wan_vae_statistics():
    from diffusers import AutoencoderKLWan

    params = inspect.signature(AutoencoderKLWan.__init__).parameters
    mean = torch.tensor(params["latents_mean"].default).view(1, 16, 1, 1, 1)
    std = torch.tensor(params["latents_std"].default).view(1, 16, 1, 1, 1)
    raw = torch.randn(1, 16, 2, 3, 4, generator=torch.Generator().manual_seed(0))
    (wrapper,) = node("WanVideoLatentReScale")(CTX, samples={"samples": raw, "batch_index": [0]},
                                               direction="comfy_to_wrapper")
    torch.testing.assert_close(wrapper["samples"], (raw - mean) / std)
    assert wrapper["batch_index"] == [0]
    (back,) = node("WanVideoLatentReScale")(CTX, samples=wrapper, direction="wrapper_to_comfy")
    torch.testing.assert_close(back["samples"], raw)
    # 48 channels: the Wan 2.2 VAE's statistics (channel 0: mean -0.2289, std 0.4765, as published with it)
    raw48 = torch.ones(1, 48, 1, 1, 1)
    (w48,) = node("WanVideoLatentReScale")(CTX, samples={"samples": raw48}, direction="comfy_to_wrapper")
    assert w48["samples"][0, 0].item() == pytest.approx((1 + 0.2289) / 0.4765, rel=1e-5)
    with pytest.raises(NodeInputError):
        node("WanVideoLatentReScale")(CTX, samples={"samples": torch.ones(1, 4, 1, 1, 1)}, direction="comfy_to_wrapper")


def test_extract_start_frames():
    frames = torch.rand(7, 4, 5, 3, dtype=torch.float64)
    (out,) = node("ExtractStartFramesForContinuations")(CTX, input_video_frames=frames, num_frames=3)
    assert out.dtype == torch.float32 and torch.equal(out, frames[:3].float())
    (out,) = node("ExtractStartFramesForContinuations")(CTX, input_video_frames=frames, num_frames=20)
    assert out.shape[0] == 7
    (out,) = node("ExtractStartFramesForContinuations")(CTX, input_video_frames=frames[:0], num_frames=3)
    assert out.shape == (0, 4, 5, 3)


def _sine(rate: int, seconds: float, amplitude: float = 1.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return amplitude * np.sin(2 * np.pi * 1000 * t)


def test_loudness_of_channels_follows_bs1770():
    rate = 48000
    sine = _sine(rate, 3.0)
    assert integrated_loudness(sine, rate) == pytest.approx(-3.01, abs=0.05)  # the standard's reference tone
    stereo = np.stack([sine, sine], axis=1)
    assert integrated_loudness(stereo, rate) == pytest.approx(-3.01 + 10 * math.log10(2), abs=0.05)
    surround = np.zeros((sine.shape[0], 5))
    surround[:, 3] = sine  # left surround, weighted 1.41
    assert integrated_loudness(surround, rate) == pytest.approx(-3.01 + 10 * math.log10(1.41), abs=0.05)


def test_normalize_audio_loudness_scales_to_the_target():
    rate = 48000
    sine = _sine(rate, 3.0, amplitude=0.5)
    wave = torch.from_numpy(np.stack([sine, 0.5 * sine])).float()[None]  # [1, 2, samples]
    (out,) = node("NormalizeAudioLoudness")(CTX, audio={"waveform": wave, "sample_rate": rate}, lufs=-20.0)
    assert out["sample_rate"] == rate and out["waveform"].shape == wave.shape
    # both channels: mean squares 0.125 and 0.03125 of a 1 kHz tone, K-weighted as the reference tone
    level = -3.01 + 10 * math.log10((0.125 + 0.03125) / 0.5)
    gain = 10 ** ((-20.0 - level) / 20)
    torch.testing.assert_close(out["waveform"], wave * gain, rtol=6e-3, atol=1e-6)
    silent = torch.zeros(1, 1, rate)
    (same,) = node("NormalizeAudioLoudness")(CTX, audio={"waveform": silent, "sample_rate": rate}, lufs=-20.0)
    assert torch.equal(same["waveform"], silent)
    with pytest.raises(NodeInputError) as err:
        node("NormalizeAudioLoudness")(CTX, audio={"waveform": torch.ones(1, 1, 100), "sample_rate": rate}, lufs=-20.0)
    assert err.value.input_name == "audio"


def test_preview_embeds_gives_the_conditioning_latents():
    y = torch.randn(20, 3, 4, 4)
    emb = ImageEmbeds(num_frames=9, image_embeds=y)
    latent, mask = node("WanVideoPreviewEmbeds")(CTX, embeds=emb)
    assert torch.equal(latent["samples"], y[None]) and mask is None
    with pytest.raises(NodeInputError):
        node("WanVideoPreviewEmbeds")(CTX, embeds=ImageEmbeds(num_frames=9, target_shape=(16, 3, 4, 4)))


def test_latent_preview_maps_and_stretches():
    latents = torch.zeros(1, 16, 2, 3, 4)
    latents[0, 3, 1, 2, 3] = 1000.0  # channel 3: (0.001887, 0.002190, 0.002117) per unit
    images, factors = node("WanVideoLatentPreview")(CTX, samples={"samples": latents})
    assert images.shape == (2, 3, 4, 3)
    # everywhere else the bias (-0.0011, 0, -0.0002); the one pixel bias + 1000 * row 3
    low, high = -0.0011, 0.002190 * 1000
    want = torch.tensor([-0.0011, 0.0, -0.0002]).expand(2, 3, 4, 3).clone()
    want[1, 2, 3] = torch.tensor([1.887 - 0.0011, 2.190, 2.117 - 0.0002])
    torch.testing.assert_close(images, (want - low) / (high - low), rtol=1e-5, atol=1e-6)
    assert factors.startswith("[[0.000159, -0.000223, 0.001299]")
