"""ComfyUI-WanVideoWrapper's MultiTalk / InfiniteTalk: the wav2vec embeds (against transformers
with the resampling rule written by hand), the BS.1770 loudness (against the standard's
documented tone), the audio attention with speakers (against a hand-written attention), the
long-video windows worked out by hand, and AudioCrop."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from node_helpers import node
from wfrun.media.loudness import integrated_loudness, normalize
from wfrun.models.multitalk import (AudioBlock, key_positions, speaker_positions, tiny_state_dict)
from wfrun.models.paths import ModelRoots
from wfrun.models.wav2vec2_folder import TENCENT, write_tiny_folder
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.wanvideo.types import MultiTalkEmbeds
from wfrun.sampling.multitalk import multitalk_guidance, token_masks
from wfrun.sampling.multitalk_long import (extend_features, motion_mask, multitalk_schedule, window_plan)


# --- loudness -------------------------------------------------------------------------------

def tone(amplitude, seconds, rate, hz=997.0):
    t = np.arange(int(seconds * rate)) / rate
    return amplitude * np.sin(2 * math.pi * hz * t)


@pytest.mark.parametrize("rate", [48000, 16000])
def test_loudness_of_the_standards_reference_tone(rate):
    # BS.1770: a 0 dBFS 997 Hz sine on one channel reads -3.01 LKFS (conformance: 0.1 LU)
    assert integrated_loudness(tone(1.0, 5, rate), rate) == pytest.approx(-3.01, abs=0.1)
    # 20 dB lower is 20 LU lower
    assert integrated_loudness(tone(0.1, 5, rate), rate) == pytest.approx(
        integrated_loudness(tone(1.0, 5, rate), rate) - 20, abs=1e-6)


def test_loudness_gates_silence_and_quiet_parts():
    rate = 16000
    loud = tone(0.5, 4, rate)
    alone = integrated_loudness(loud, rate)
    # silence is below the absolute gate; a part 30 dB down is below the relative gate
    assert integrated_loudness(np.concatenate([loud, np.zeros(4 * rate)]), rate) == pytest.approx(alone, abs=0.05)
    assert integrated_loudness(np.concatenate([loud, tone(0.5 / 31.6, 4, rate)]), rate) == pytest.approx(alone, abs=0.05)
    assert integrated_loudness(np.zeros(rate), rate) == -math.inf
    out = normalize(loud, alone, -23.0)
    assert integrated_loudness(out, rate) == pytest.approx(-23.0, abs=1e-6)


# --- the embeds node --------------------------------------------------------------------------

@pytest.fixture
def ctx(tmp_path):
    write_tiny_folder(tmp_path / "transformers" / TENCENT, seed=5)
    return ExecContext(models=ModelRoots.from_options(str(tmp_path)), device="cpu", offload_device="cpu")


def hand_resampled(conv: torch.Tensor, frames: int) -> torch.Tensor:
    """Linear interpolation with the corners aligned, by the formula: output i sits at
    ``i (T - 1) / (frames - 1)`` of the input."""
    x = conv[0].double().numpy()  # [C, T]
    t = x.shape[1]
    out = np.empty((x.shape[0], frames))
    for i in range(frames):
        pos = i * (t - 1) / (frames - 1)
        lo = int(math.floor(pos))
        hi = min(lo + 1, t - 1)
        w = pos - lo
        out[:, i] = (1 - w) * x[:, lo] + w * x[:, hi]
    return torch.from_numpy(out).float()[None]


@torch.no_grad()
def test_embeds_match_transformers_with_the_multitalk_resampling(ctx, tmp_path):
    from transformers import Wav2Vec2Model

    (wav2vec,) = node("DownloadAndLoadWav2VecModel")(ctx, model=TENCENT, base_precision="fp32", load_device="main_device")
    g = torch.Generator().manual_seed(1)
    wave = torch.randn(1, 2, 16000 * 2, generator=g) * 0.2  # 2 s, stereo, already 16 kHz
    embeds, audio, frames = node("MultiTalkWav2VecEmbeds")(ctx, wav2vec_model=wav2vec, normalize_loudness=False,
                                                           num_frames=30, fps=25.0, audio_scale=1.5,
                                                           audio_cfg_scale=2.0,
                                                           audio_1={"waveform": wave, "sample_rate": 16000})
    assert isinstance(embeds, MultiTalkEmbeds) and embeds.audio_scale == 1.5 and embeds.audio_cfg_scale == 2.0
    samples = wave[0, 0, :int(30 / 25 * 16000)]  # the first channel, cut to the video: 19200 samples
    assert audio["waveform"].shape == (1, 1, 19200) and frames == 30
    (got,) = embeds.audio_features
    assert got.shape == (30, 2, 32)  # int(1.2 s x 25) rows, every layer of the tiny encoder

    model = Wav2Vec2Model.from_pretrained(str(tmp_path / "transformers" / TENCENT)).eval()
    x = (samples - samples.mean()) / torch.sqrt(samples.var(unbiased=False) + 1e-7)
    conv = model.feature_extractor(x[None])
    assert conv.shape[-1] == 59  # 50 a second
    resampled = hand_resampled(conv, 30)

    class Fixed(torch.nn.Module):  # transformers' model from the resampled features on
        def forward(self, _):
            return resampled

    model.feature_extractor = Fixed()
    states = model(x[None], output_hidden_states=True).hidden_states
    want = torch.stack(states[1:], dim=1)[0].movedim(0, 1)
    torch.testing.assert_close(got, want, atol=2e-4, rtol=2e-4)


def test_embeds_normalize_loudness_and_speakers(ctx):
    (wav2vec,) = node("DownloadAndLoadWav2VecModel")(ctx, model=TENCENT, base_precision="fp32", load_device="main_device")
    loud = torch.from_numpy(tone(0.5, 1.0, 16000)).float()[None, None]
    quiet = torch.from_numpy(tone(0.05, 0.6, 16000)).float()[None, None]
    masks = torch.zeros(3, 32, 32)
    embeds, audio, frames = node("MultiTalkWav2VecEmbeds")(
        ctx, wav2vec_model=wav2vec, normalize_loudness=True, num_frames=30, fps=25.0, audio_scale=1.0,
        audio_cfg_scale=1.0, multi_audio_type="add", audio_1={"waveform": loud, "sample_rate": 16000},
        audio_2={"waveform": quiet, "sample_rate": 16000}, ref_target_masks=masks)
    a, b = embeds.audio_features
    # add: 25 then 15 rows on one 40-row timeline, zeros elsewhere
    assert a.shape[0] == b.shape[0] == 40 and frames == 30
    assert a[25:].abs().max() == 0 and b[:25].abs().max() == 0 and b[25:].abs().max() > 0
    first = audio["waveform"][0, 0, :16000].double().numpy()
    second = audio["waveform"][0, 0, 16000:].double().numpy()
    assert integrated_loudness(first, 16000) == pytest.approx(-23.0, abs=1e-3)
    assert integrated_loudness(second, 16000) == pytest.approx(-23.0, abs=1e-3)
    # two speakers without masks pass the node, as in the pack (its long-video loop gives them
    # default masks; the sampler refuses them elsewhere); three are refused, saying what to connect
    two, _, _ = node("MultiTalkWav2VecEmbeds")(ctx, wav2vec_model=wav2vec, normalize_loudness=False, num_frames=30,
                                               fps=25.0, audio_scale=1.0, audio_cfg_scale=1.0,
                                               audio_1={"waveform": loud, "sample_rate": 16000},
                                               audio_2={"waveform": quiet, "sample_rate": 16000})
    assert len(two.audio_features) == 2 and two.ref_target_masks is None
    with pytest.raises(NodeInputError) as err:
        node("MultiTalkWav2VecEmbeds")(ctx, wav2vec_model=wav2vec, normalize_loudness=False, num_frames=30, fps=25.0,
                                       audio_scale=1.0, audio_cfg_scale=1.0,
                                       audio_1={"waveform": loud, "sample_rate": 16000},
                                       audio_2={"waveform": quiet, "sample_rate": 16000},
                                       audio_3={"waveform": loud, "sample_rate": 16000})
    assert err.value.input_name == "ref_target_masks"
    assert "3 speakers (audio_1, audio_2, audio_3)" in str(err.value)
    assert "one mask per speaker in the order audio_1, audio_2, audio_3" in err.value.hint
    with pytest.raises(NodeInputError, match="1 mask\\(s\\) for 2 speakers"):
        node("MultiTalkWav2VecEmbeds")(ctx, wav2vec_model=wav2vec, normalize_loudness=False, num_frames=30, fps=25.0,
                                       audio_scale=1.0, audio_cfg_scale=1.0, ref_target_masks=torch.zeros(32, 32),
                                       audio_1={"waveform": loud, "sample_rate": 16000},
                                       audio_2={"waveform": quiet, "sample_rate": 16000})
    with pytest.raises(NodeInputError, match="0.4 s"):
        node("MultiTalkWav2VecEmbeds")(ctx, wav2vec_model=wav2vec, normalize_loudness=True, num_frames=9, fps=25.0,
                                       audio_scale=1.0, audio_cfg_scale=1.0,
                                       audio_1={"waveform": loud, "sample_rate": 16000})


# --- the audio attention with speakers ------------------------------------------------------------

def hand_rope(x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Pairs (2i, 2i+1) as complex numbers turned by pos / 10000^(2i/d)."""
    d = x.shape[-1]
    freqs = 1.0 / 10000 ** (torch.arange(0, d, 2).double() / d)
    z = torch.view_as_complex(x.double().reshape(*x.shape[:-1], d // 2, 2).contiguous())
    turned = z * torch.exp(1j * pos.double()[..., None] * freqs)
    return torch.view_as_real(turned).reshape(x.shape).float()


def test_speaker_positions_by_hand():
    # three masks: two speakers and a background; four tokens
    maps = torch.tensor([[[0.2, 0.6, 0.1, 0.3],
                          [0.5, 0.1, 0.1, 0.2],
                          [0.1, 0.1, 0.9, 0.4]]])
    got = speaker_positions(maps, speakers=2)
    # token 0: speaker 2 (0.5 is its max: 24); token 1: speaker 1 at its max (4);
    # tokens 2, 3: the background mask (12)
    torch.testing.assert_close(got, torch.tensor([[24.0, 4.0, 12.0, 12.0]]), atol=1e-5, rtol=0)
    # three speakers side by side: 0..4, 4..8, 8..12
    three = speaker_positions(maps, speakers=3)
    torch.testing.assert_close(three, torch.tensor([[8.0, 4.0, 12.0, 9.5]]), atol=1e-5, rtol=0)
    assert key_positions(64, 2).tolist() == [2.0] * 32 + [22.0] * 32
    assert key_positions(96, 3).tolist() == [2.0] * 32 + [6.0] * 32 + [10.0] * 32


@torch.no_grad()
def test_audio_attention_with_speakers_matches_a_hand_written_one():
    sd = tiny_state_dict(dim=32, blocks=1, audio_dim=16, seed=3)
    block = AudioBlock(32, 16, 2)
    block.load_state_dict({k[len("blocks.0."):]: v for k, v in sd.items() if k.startswith("blocks.0.")})
    g = torch.Generator().manual_seed(4)
    frames, per = 2, 6
    x = torch.randn(1, frames * per, 32, generator=g)
    audio = torch.randn(frames, 64, 16, generator=g)  # two speakers' 32 tokens a frame
    positions = torch.rand(1, frames * per, generator=g) * 24
    got = block(x, audio, (frames, 2, 3), positions, speakers=2, eps=1e-6)

    n = torch.nn.functional.layer_norm(x, (32,), sd["blocks.0.norm_x.weight"], sd["blocks.0.norm_x.bias"], 1e-6)
    q = n @ sd["blocks.0.audio_cross_attn.q_linear.weight"].T + sd["blocks.0.audio_cross_attn.q_linear.bias"]
    kv = audio @ sd["blocks.0.audio_cross_attn.kv_linear.weight"].T + sd["blocks.0.audio_cross_attn.kv_linear.bias"]
    k, v = kv[..., :32], kv[..., 32:]
    out = torch.zeros(frames * per, 32)
    kpos = torch.tensor([2.0] * 32 + [22.0] * 32)
    for f in range(frames):
        for h in range(2):
            sl = slice(16 * h, 16 * h + 16)
            qf = hand_rope(q[0, f * per:(f + 1) * per, sl], positions[0, f * per:(f + 1) * per])
            kf = hand_rope(k[f, :, sl], kpos)
            w = torch.softmax(qf @ kf.T / 4.0, dim=-1)
            out[f * per:(f + 1) * per, sl] = w @ v[f, :, sl]
    want = out @ sd["blocks.0.audio_cross_attn.proj.weight"].T + sd["blocks.0.audio_cross_attn.proj.bias"]
    torch.testing.assert_close(got[0], want, atol=1e-4, rtol=1e-4)


def test_token_masks_and_guidance():
    masks = torch.zeros(2, 16, 16)
    masks[0, :, :8] = 1
    masks[1, :, 8:] = 1
    tok = token_masks(masks, 4, 4)  # latent 4x4 -> tokens 2x2
    assert tok.tolist() == [[True, False, True, False], [False, True, False, True]]
    c, u, n = torch.tensor(3.0), torch.tensor(2.0), torch.tensor(1.0)
    assert float(multitalk_guidance(c, u, n, 5.0, 4.0)) == 1.0 + 5.0 * 1.0 + 4.0 * 1.0


# --- the long-video loop's arithmetic ---------------------------------------------------------------

def test_window_plan_by_hand():
    plan = window_plan(200, 81, 25)
    # windows start every 81 - 25 = 56 frames; the one reaching past the audio (168 + 81 = 249) is the last,
    # and the audio is extended first by its last 249 - 200 + 3 = 52 rows reversed
    assert [(w.start, w.end, w.motion, w.keep) for w in plan] == [(0, 81, 1, 81), (56, 137, 25, 56),
                                                                  (112, 193, 25, 56), (168, 249, 25, 56)]
    assert [w.extend_to for w in plan] == [None, None, None, 252]
    assert sum(w.keep for w in plan) == 249
    # audio that fits one window: one window from 2025-08-19, two before
    assert len(window_plan(81, 81, 25, stop_early=True)) == 1
    assert [(w.start, w.end) for w in window_plan(81, 81, 25)] == [(0, 81), (56, 137)]
    rows = torch.arange(10.0)[:, None]
    assert extend_features(rows, 12)[:, 0].tolist() == list(range(10)) + [9, 8, 7, 6, 5]
    assert extend_features(rows, 9) is rows
    with pytest.raises(ValueError):
        window_plan(100, 80, 25)


def test_motion_mask_and_schedule_by_hand():
    m = motion_mask(9, 5, 3, 2, 2, "multitalk")  # pixel frames 0..4: latent 0 (frame 0) and 1 (frames 1..4)
    assert m[:, :, 0, 0].tolist() == [[1.0, 1.0, 0.0]] * 4
    # pixel frames 0, 1: latent 1 holds frames 1..4 in channels 0..3, so only its channel 0 is set
    assert motion_mask(9, 2, 3, 2, 2, "multitalk")[:, :, 0, 0].tolist() == [[1.0, 1.0, 0.0]] + \
        [[1.0, 0.0, 0.0]] * 3
    assert motion_mask(9, 5, 3, 2, 2, "infinitetalk")[:, :, 0, 0].tolist() == [[1.0, 0.0, 0.0]] * 4
    sched = multitalk_schedule(4, 5.0)
    s = np.array([1000.0, 667.0, 334.0, 1.0]) / 1000
    want = 5 * s / (1 + 4 * s)
    np.testing.assert_allclose(sched.timesteps.numpy(), want * 1000, rtol=1e-5)
    x, v = torch.ones(1, 1, 1, 1, 1), torch.full((1, 1, 1, 1, 1), 2.0)
    stepped = sched.stepper.step(v, sched.timesteps[3], x)  # the last step goes to sigma 0
    assert float(stepped) == pytest.approx(1.0 - 2.0 * want[3], rel=1e-5)


# --- AudioCrop ------------------------------------------------------------------------------------

def test_audio_crop_by_hand():
    wave = torch.arange(10 * 100.0).reshape(1, 1, -1)  # 10 s at 100 Hz
    audio = {"waveform": wave, "sample_rate": 100}
    (out,) = node("AudioCrop")(ExecContext(), audio=audio, start_time="0:02", end_time="5")
    assert out["waveform"][0, 0].tolist() == list(range(200, 500))
    (out,) = node("AudioCrop")(ExecContext(), audio=audio, start_time="0:01", end_time="2:00")
    assert out["waveform"].shape[-1] == 999 - 100  # the end clamped to the last sample, which is left out
    with pytest.raises(NodeInputError, match="after end") as err:
        node("AudioCrop")(ExecContext(), audio=audio, start_time="0:08", end_time="0:03")
    assert err.value.input_name == "start_time"
    with pytest.raises(NodeInputError, match="whole minutes") as err:
        node("AudioCrop")(ExecContext(), audio=audio, start_time="0:00", end_time="1.5")
    assert err.value.input_name == "end_time"


# --- video-to-video in the long-video loop (the V2V InfiniteTalk example) ------------------------

def test_input_slice_and_mix_by_hand():
    from wfrun.sampling.multitalk_long import input_slice, video_to_video

    source = torch.arange(5, dtype=torch.float32).view(1, 5, 1, 1)  # latent frame i holds i
    assert input_slice(source, 1, 3).flatten().tolist() == [1, 2, 3]
    assert input_slice(source, 3, 4).flatten().tolist() == [3, 4, 4, 4]  # padded with the last frame
    noise = torch.full((1, 3, 1, 1), 10.0)
    lat = input_slice(source, 0, 3)
    assert video_to_video(noise, lat, 250.0).flatten().tolist() == [2.5, 3.25, 4.0]  # 10·0.25 + x·0.75
    assert torch.equal(video_to_video(noise, lat, None), lat)


def test_long_loop_starts_each_window_from_its_slice_of_the_input():
    import dataclasses as dc
    from types import SimpleNamespace

    from wfrun.sampling.multitalk import MultiTalkAudio
    from wfrun.sampling.multitalk_long import Codec, LongVideo, multitalk_schedule, sample_long, window_plan

    h = w = 16
    window, motion = 9, 5  # 3 latent frames a window; later windows start 1 latent frame on
    long = LongVideo(vae=None, width=w, height=h, frame_window_size=window, motion_frame=motion,
                     start_images=torch.zeros(1, 3, 1, h, w), mode="infinitetalk")
    audio = MultiTalkAudio(module=None, features=(torch.zeros(17, 2, 4),))
    plan = window_plan(17, window, motion)
    source = torch.randn(16, 4, 2, 2, generator=torch.Generator().manual_seed(8))
    timesteps = multitalk_schedule(4, 5.0).timesteps[2:]  # a sampler starting at step 2
    starts = []

    def prepare(r):
        assert r.samples is None  # the window's own prepare does no video-to-video
        return SimpleNamespace(schedule=SimpleNamespace(timesteps=timesteps), add_noise=True, cfg=[1.0], audio=None)

    def run_steps(p, state, inject, description):
        starts.append(state.latent.clone())

    codec = Codec(encode=lambda v: torch.zeros(16, (v.shape[1] - 1) // 4 + 1, 2, 2), decode=lambda z: torch.zeros(
        3, (z.shape[1] - 1) * 4 + 1, h, w))
    req = SimpleNamespace(device="cpu", seed=3, samples={"samples": source[None]}, text_embeds=SimpleNamespace(
        prompt_embeds=(torch.zeros(1, 4),)), scheduler="dpm++_sde", check_interrupt=lambda: None)
    req_replace = dc.replace

    def replace(obj, **kw):  # SimpleNamespace stands in for the request dataclass
        return SimpleNamespace(**{**vars(obj), **kw}) if isinstance(obj, SimpleNamespace) else req_replace(obj, **kw)

    import wfrun.sampling.multitalk_long as ml
    original = ml.dataclasses.replace
    ml.dataclasses.replace = replace
    try:
        sample_long(req, long, audio, codec, "infinitetalk", prepare, run_steps, lambda lat: SimpleNamespace(latent=lat))
    finally:
        ml.dataclasses.replace = original
    assert len(starts) == len(plan) >= 2
    g = torch.Generator().manual_seed(3)
    torch.randn(*long.target_shape, generator=g)  # the sampler's own draw first
    t0 = float(timesteps[0])
    for k, got in enumerate(starts):
        noise = torch.randn(16, 3, 2, 2, generator=g)
        first = 0 if k == 0 else k * ((window - motion - 1) // 4 + 1)
        part = torch.cat([source, source[:, -1:].repeat(1, 8, 1, 1)], dim=1)[:, first:first + 3]
        torch.testing.assert_close(got, noise * t0 / 1000 + (1 - t0 / 1000) * part)


def test_long_loop_refuses_masked_or_continued_samples():
    from wfrun.packs.wanvideo.multitalk_sampling import check_long

    talk = object()
    lat = torch.zeros(1, 16, 3, 2, 2)
    check_long(None, talk, {"samples": lat}, None, "dpm++_sde")  # plain encoded video: runs
    for samples, scheduler, name in (({"samples": lat, "noise_mask": torch.ones(1)}, "euler", "samples"),
                                     ({"samples": lat, "generator_state": torch.zeros(3, dtype=torch.uint8)},
                                      "euler", "samples"),
                                     ({"samples": lat}, "multitalk", "scheduler")):
        with pytest.raises(NodeInputError) as err:
            check_long(None, talk, samples, None, scheduler)
        assert err.value.input_name == name


def _mask_diagnostics(loop: bool = False, **extra) -> list:
    """The graph checks' problems with ``ref_target_masks`` for speakers' audio linked into a
    MultiTalkWav2VecEmbeds (audio_1 always; ``extra`` adds inputs), with the wrapper's
    long-video loop (WanVideoImageToVideoMultiTalk) in the workflow or not."""
    from wfrun.engine.executors import pack_checks
    from wfrun.formats.document import from_data
    from wfrun.graph import build, check
    from wfrun.specs.registry import default_registry

    prompt = {
        "1": {"class_type": "LoadAudio", "inputs": {"audio": "a.wav"}},
        "2": {"class_type": "LoadAudio", "inputs": {"audio": "b.wav"}},
        "3": {"class_type": "DownloadAndLoadWav2VecModel", "inputs": {
            "model": TENCENT, "base_precision": "fp16", "load_device": "main_device"}},
        "5": {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": 64, "height": 64}},
        "4": {"class_type": "MultiTalkWav2VecEmbeds", "inputs": {
            "wav2vec_model": ["3", 0], "audio_1": ["1", 0], "normalize_loudness": True, "num_frames": 81,
            "fps": 25.0, "audio_scale": 1.0, "audio_cfg_scale": 1.0, "multi_audio_type": "para", **extra}},
    }
    if loop:
        prompt["6"] = {"class_type": "WanVideoVAELoader", "inputs": {"model_name": "vae.safetensors",
                                                                     "precision": "bf16"}}
        prompt["7"] = {"class_type": "WanVideoImageToVideoMultiTalk", "inputs": {
            "vae": ["6", 0], "width": 832, "height": 480, "frame_window_size": 81, "motion_frame": 9,
            "force_offload": False, "colormatch": "disabled", "tiled_vae": False, "mode": "infinitetalk"}}
    graph = build(from_data(prompt, "talk.json"), default_registry())
    return [d for d in check(graph, None, pack_checks()) if d.input == "ref_target_masks"]


def test_validate_refuses_two_speakers_without_masks_before_anything_loads():
    """``wfrun validate`` (the graph checks) names the node and input and what to connect; one
    speaker, or two with masks, pass."""
    (problem,) = _mask_diagnostics(audio_2=["2", 0])
    assert problem.node_id == "4" and problem.code == "missing-input"
    assert "2 speakers (audio_1, audio_2)" in problem.message and "mask batch" in problem.hint
    assert _mask_diagnostics() == []
    assert _mask_diagnostics(audio_2=["2", 0], ref_target_masks=["5", 0]) == []
    (three,) = _mask_diagnostics(audio_2=["2", 0], audio_3=["1", 0])
    assert "3 speakers (audio_1, audio_2, audio_3)" in three.message


def test_validate_leaves_two_speakers_to_a_workflow_with_the_long_video_loop():
    """With a WanVideoImageToVideoMultiTalk in the workflow two speakers may get its default
    masks, so validate does not refuse them (the run decides); three it still refuses."""
    assert _mask_diagnostics(loop=True, audio_2=["2", 0]) == []
    (three,) = _mask_diagnostics(loop=True, audio_2=["2", 0], audio_3=["1", 0])
    assert "3 speakers" in three.message


# --- two speakers without masks: the long-video loop's default masks ------------------------------

def test_two_speaker_default_masks_by_hand():
    from wfrun.sampling.multitalk import two_speaker_masks

    masks = two_speaker_masks(480, 832)
    assert masks.shape == (3, 480, 832)
    # rows 480·0.1 = 48 .. 480·0.9 = 432; the halves are 416 wide: 41.6 -> 41 .. 374.4 -> 374,
    # and the right one 41.6 + 416 = 457.6 -> 457 .. 374.4 + 416 = 790.4 -> 790
    want1, want2 = torch.zeros(480, 832), torch.zeros(480, 832)
    want1[48:432, 41:374] = 1
    want2[48:432, 457:790] = 1
    assert torch.equal(masks[0], want1) and torch.equal(masks[1], want2)
    assert torch.equal(masks[2], 1 - want1 - want2)
    odd = two_speaker_masks(50, 35)  # half 17: 1.7 -> 1 .. 15.3 -> 15; 18.7 -> 18 .. 32.3 -> 32; rows 5 .. 45
    assert odd[0].nonzero()[:, 1].unique().tolist() == list(range(1, 15))
    assert odd[1].nonzero()[:, 1].unique().tolist() == list(range(18, 32))
    assert odd[0].nonzero()[:, 0].unique().tolist() == list(range(5, 45))


def _talk_inputs(speakers: int, masks=None):
    from types import SimpleNamespace

    from wfrun.packs.wanvideo.types import MultiTalkEmbeds

    model = SimpleNamespace(multitalk=SimpleNamespace(spec=SimpleNamespace(audio_values=12 * 768),
                                                      module=torch.nn.Identity()),
                            base_dtype=torch.float32)
    features = tuple(torch.zeros(10, 12, 768) for _ in range(speakers))
    return model, MultiTalkEmbeds(features, 1.0, 1.0, masks)


def _loop_embeds(default_masks: bool, width: int = 64, height: int = 48):
    from wfrun.packs.wanvideo.types import ImageEmbeds
    from wfrun.sampling.multitalk_long import LongVideo

    long = LongVideo(vae=None, width=width, height=height, frame_window_size=33, motion_frame=9,
                     stop_early=default_masks, default_masks=default_masks)
    return ImageEmbeds(num_frames=33, target_shape=long.target_shape, lat_h=height // 8, lat_w=width // 8,
                       multitalk_long=long)


def test_the_long_loop_gives_two_unmasked_speakers_the_packs_default_masks():
    from wfrun.packs.wanvideo.multitalk_sampling import multitalk_audio
    from wfrun.sampling.multitalk import token_masks, two_speaker_masks

    model, embeds = _talk_inputs(2)
    talk, _ = multitalk_audio(model, embeds, _loop_embeds(True))
    assert torch.equal(talk.masks, token_masks(two_speaker_masks(48, 64), 6, 8))
    # the same as the user giving those masks
    given, _ = multitalk_audio(model, _talk_inputs(2, two_speaker_masks(48, 64))[1], _loop_embeds(True))
    assert torch.equal(talk.masks, given.masks)


def test_unmasked_speakers_are_refused_outside_the_loops_default():
    from wfrun.packs.wanvideo.multitalk_sampling import multitalk_audio
    from wfrun.packs.wanvideo.types import ImageEmbeds

    plain = ImageEmbeds(num_frames=33, target_shape=(16, 9, 6, 8), lat_h=6, lat_w=8)
    for speakers, image_embeds in ((2, plain), (2, _loop_embeds(False)), (3, _loop_embeds(True))):
        model, embeds = _talk_inputs(speakers)
        with pytest.raises(NodeInputError) as err:
            multitalk_audio(model, embeds, image_embeds)
        assert err.value.input_name == "multitalk_embeds"
        assert f"{speakers} speakers" in str(err.value)
    model, embeds = _talk_inputs(1)  # one speaker needs no mask
    talk, _ = multitalk_audio(model, embeds, plain)
    assert talk.masks is None
