"""VantageLongWanVideo (vantagewithai; the set's files come from florinnichifiriuc's fork):
the dual looper's segment plan worked out by hand from the pack's rule (frames per prompt
line, window, overlap drop, when it stops), the project node's payload, and the looper's
segments against the same steps written out with wfrun's core nodes (WanImageToVideo, three
KSamplerAdvanced passes over one schedule, VAEDecode, the seed frame carried over, the PNG
round trip to 8-bit RGBA)."""

from __future__ import annotations

import json
import re

import pytest
import torch

from tests.node_helpers import node
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.comfy_core_models.model_input import WanPredictor
from wfrun.packs.vantage_long_wan_video import looper
from wfrun.packs.vantage_long_wan_video.looper import expert_passes, negative_conditioning, seed_frame
from wfrun.packs.vantage_long_wan_video.schedule import (ScheduleError, Segment, plan_segments, read_project,
                                                         target_frames)

W, H = 32, 16


# --- the plan -------------------------------------------------------------------------------

def _plan(lines: int, fps: int, overlap: int = 1, batch: int = 1) -> list[Segment]:
    return plan_segments(tuple(f"p{i}" for i in range(lines)), fps, overlap, batch)


@pytest.mark.parametrize("lines", [1, 2, 3, 5])
def test_16_fps_one_81_frame_segment_per_line_sharing_one_frame(lines):
    # 5 s per line at 16 fps: 80 n + 1 frames; 81-frame windows, each after the first drops
    # its first frame (the previous segment's last, which seeded it)
    segments = _plan(lines, 16)
    assert [s.length for s in segments] == [81] * lines
    assert [s.latent_frames for s in segments] == [21] * lines
    assert [s.kept for s in segments] == [81] + [80] * (lines - 1)
    assert sum(s.kept for s in segments) == 80 * lines + 1 == target_frames(16, lines)
    assert [s.prompt for s in segments] == [f"p{i}" for i in range(lines)]


def test_25_fps_windows_of_129_then_the_rest():
    # one line: 125 + 4 = 129 frames, one full window
    assert [(s.length, s.decoded, s.kept) for s in _plan(1, 25)] == [(129, 129, 129)]
    # two lines: 254 frames; after 129, 125 remain: a 126-frame window has 32 latent frames,
    # which decode to 125; one dropped -> 253 kept, not below 254 - 4: done
    segments = _plan(2, 25)
    assert [(s.length, s.latent_frames, s.decoded, s.kept) for s in segments] == [(129, 33, 129, 129),
                                                                                    (126, 32, 125, 124)]


def test_overlap_drops_and_stops_within_four_frames_of_the_target():
    # overlap 3, two lines: 81, then 81 - 3 = 78 -> 159 >= 161 - 4: stop two frames short
    assert [s.kept for s in _plan(2, 16, overlap=3)] == [81, 78]
    # overlap 0 is 1
    assert [s.dropped for s in _plan(3, 16, overlap=0)] == [0, 1, 1]
    # overlap 5, three lines: 81 + 76 + 76 = 233 < 241 - 4: a fourth segment asks for
    # 241 - 233 + 1 = 9 frames (3 latent frames), keeps 9 - 5, on the last prompt line
    segments = _plan(3, 16, overlap=5)
    assert [(s.length, s.kept, s.prompt) for s in segments] == [(81, 81, "p0"), (81, 76, "p1"), (81, 76, "p2"),
                                                                 (9, 4, "p2")]


def test_a_segment_that_keeps_nothing_is_refused_where_the_pack_never_ends():
    # overlap 8, two lines: 81 + 73 = 154 < 157; the next asks for 8 frames, which decode to 5,
    # all dropped: the pack repeats that segment forever
    with pytest.raises(ScheduleError, match="forever") as err:
        _plan(2, 16, overlap=8)
    assert err.value.input_name == "overlap"


def test_batch_items_count_as_frames():
    # two items of 81 frames: 162 kept >= 161 - 4 after the first segment; the second line is never used
    segments = _plan(2, 16, batch=2)
    assert [(s.decoded, s.kept, s.prompt) for s in segments] == [(162, 162, "p0")]


def test_project_data_as_the_looper_reads_it():
    payload = json.dumps({"id": " abc ", "prompt_lines": [" one ", "", 3], "start_prompt": "2"})
    assert read_project(payload) == read_project(json.loads(payload))
    p = read_project(payload)
    assert (p.project_id, p.prompt_lines, p.start_prompt) == ("abc", ("one", "3"), 2)
    # no prompt_lines: the prompt's lines; text that is not JSON is one prompt; nothing: one empty prompt
    assert read_project({"prompt": "a\n\n b \r\nc"}).prompt_lines == ("a", "b", "c")
    assert read_project("a cat walks").prompt_lines == ("a cat walks",)
    assert read_project("").prompt_lines == ("",)
    assert read_project({"start_prompt": "x"}).start_prompt == 0
    assert read_project({}).project_id == "default"
    with pytest.raises(ValueError, match="list"):
        read_project("[1, 2]")


# --- the project node -----------------------------------------------------------------------

def test_project_payload(ctx):
    (text,) = node("VantageProject")(ctx, project_name="my film!", positive_text=" a cat \n\n\r\na dog\r",
                                     start_prompt=0)
    data = json.loads(text)
    assert re.fullmatch(r"[0-9a-f]{32}", data["id"])
    assert data["prompt_lines"] == ["a cat", "a dog"] and data["prompt"] == "a cat\na dog"
    assert (data["name"], data["file"], data["existing"], data["start_prompt"]) == ("my film!", "myfilm.json", True, 0)
    (again,) = node("VantageProject")(ctx, project_name="", positive_text="", start_prompt=3)
    data2 = json.loads(again)
    assert data2["id"] != data["id"] and data2["name"] == data2["file"][:-5] == f"project_{data2['id'][:8]}"
    assert data2["prompt_lines"] == [] and data2["start_prompt"] == 3
    # an existing project keeps its id
    (kept,) = node("VantageProject")(ctx, project_name="x", positive_text="a", start_prompt=0, existing_project=True,
                                     project_id=" 1234 ", project_list="old.json")
    assert (json.loads(kept)["id"], json.loads(kept)["file"]) == ("1234", "old.json")


def test_resuming_a_saved_project_is_refused(ctx):
    with pytest.raises(NodeInputError, match="vantage/<project id>") as err:
        node("VantageProject")(ctx, project_name="x", positive_text="a\nb", start_prompt=1, existing_project=True,
                               project_id="1234")
    assert err.value.input_name == "start_prompt"


# --- the looper's pieces ----------------------------------------------------------------------

def test_expert_passes_share_one_schedule():
    # the 8-step Lightning file: 1 init + 3 high + 4 low of 8
    assert expert_passes(1, 3, 4, True) == [("init", 0, 1), ("high", 1, 4), ("low", 4, 8)]
    # no model_init: steps_init does not count
    assert expert_passes(1, 10, 10, False) == [("high", 0, 10), ("low", 10, 20)]


def test_seed_frame_is_the_overlap_th_from_the_end():
    frames = torch.arange(5.0).reshape(5, 1, 1, 1)
    assert seed_frame(frames, 0).flatten().tolist() == [4.0]
    assert seed_frame(frames, 1).flatten().tolist() == [4.0]
    assert seed_frame(frames, 3).flatten().tolist() == [2.0]
    assert seed_frame(frames, 8).flatten().tolist() == [4.0]  # fewer frames: the last


# --- with tiny models -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def ctx(tiny_models) -> ExecContext:
    return ExecContext(models=ModelRoots.from_options(tiny_models))


@pytest.fixture(scope="module")
def parts(ctx):
    (unet,) = node("UNETLoader")(ctx, unet_name="wan2.2_i2v_high_noise_14B_tiny_fp8_scaled.safetensors",
                                 weight_dtype="default")
    shift = node("ModelSamplingSD3")
    models = {name: shift(ctx, model=unet, shift=s)[0] for name, s in (("init", 3.0), ("high", 8.0), ("low", 5.0))}
    (clip,) = node("CLIPLoader")(ctx, clip_name="umt5_xxl_tiny_fp16.safetensors", type="wan", device="default")
    (vae,) = node("VAELoader")(ctx, vae_name="wan_2.1_vae_tiny.safetensors")
    return models, clip, vae


def _start(seed: int = 3) -> torch.Tensor:
    return torch.rand(1, 24, 40, 3, generator=torch.Generator().manual_seed(seed))


def by_hand_segment(ctx, parts, text, negative_text, image, length, passes, cfgs, denoise=1.0):
    """One segment with core nodes: prompts, WanImageToVideo, KSamplerAdvanced per pass, VAEDecode."""
    models, clip, vae = parts
    (pos,) = node("CLIPTextEncode")(ctx, text=text, clip=clip)
    (neg,) = node("CLIPTextEncode")(ctx, text=negative_text, clip=clip)
    pos, neg, latent = node("WanImageToVideo")(ctx, positive=pos, negative=neg, vae=vae, width=W, height=H,
                                               length=length, batch_size=1, start_image=image)
    total = passes[-1][2]
    for n, (name, first, last) in enumerate(passes):
        (latent,) = node("KSamplerAdvanced")(ctx, model=models[name], add_noise="enable" if n == 0 else "disable",
                                             noise_seed=11, steps=total, cfg=cfgs[name], sampler_name="euler",
                                             scheduler="simple", positive=pos, negative=neg, latent_image=latent,
                                             start_at_step=first, end_at_step=last,
                                             return_with_leftover_noise="disable" if name == "low" else "enable")
    (images,) = node("VAEDecode")(ctx, samples=latent, vae=vae)
    return images.clamp(0, 1)


def run_looper(ctx, parts, with_init=True, **inputs):
    models, clip, vae = parts
    base = dict(model_high=models["high"], model_low=models["low"], clip=clip,
                project_data=json.dumps({"id": "t", "prompt_lines": ["a cat", "a dog"], "start_prompt": 0}),
                negative_text="blur", seed=11, steps_init=1, steps_high=1, steps_low=1, cfg_init=3.0, cfg=1.5,
                sampler_name="euler", scheduler="simple", width=W + 8, height=H + 4, batch_size=1, denoise=1.0,
                fps="16", overlap=2, crop="center", vae=vae, start_image=_start())
    if with_init:
        base["model_init"] = models["init"]
    return node("VantageI2VDualLooper")(ctx, **{**base, **inputs})


@pytest.fixture
def short_plan(monkeypatch):
    """Two 5-frame segments (the real plan makes 81-frame ones, too slow here; it is tested above):
    the second drops its first 2 frames (overlap 2)."""
    plan = [Segment(0, "a cat", 5, 2, 5, 0), Segment(1, "a dog", 5, 2, 5, 2)]
    seen = []

    def fake(lines, fps, overlap, batch):
        seen.append((lines, fps, overlap, batch))
        return plan

    monkeypatch.setattr(looper, "plan_segments", fake)
    return seen


@torch.no_grad()
def test_segments_chain_the_three_experts_and_carry_a_frame(ctx, parts, short_plan):
    (out,) = run_looper(ctx, parts)
    assert short_plan == [(("a cat", "a dog"), 16, 2, 1)]
    passes = [("init", 0, 1), ("high", 1, 2), ("low", 2, 3)]
    cfgs = {"init": 3.0, "high": 1.5, "low": 1.5}
    first = by_hand_segment(ctx, parts, "a cat", "blur", _start(), 5, passes, cfgs)  # 40x20 -> 32x16
    second = by_hand_segment(ctx, parts, "a dog", "blur", first[3:4], 5, passes, cfgs)  # 2nd from the end
    want = torch.cat([first, second[2:]])
    assert out.shape == (8, H, W, 4)
    assert torch.equal(out[..., 3], torch.ones_like(out[..., 3]))
    torch.testing.assert_close(out[..., :3], torch.round(want * 255) / 255, atol=1 / 255 + 1e-6, rtol=0)
    assert torch.equal(out[..., :3] * 255, torch.round(out[..., :3] * 255))  # 8-bit values


@torch.no_grad()
def test_without_model_init_the_high_expert_adds_the_noise(ctx, parts, short_plan):
    (out,) = run_looper(ctx, parts, with_init=False, steps_init=5, steps_high=1, steps_low=2)
    passes = [("high", 0, 1), ("low", 1, 3)]
    cfgs = {"high": 1.5, "low": 1.5}
    first = by_hand_segment(ctx, parts, "a cat", "blur", _start(), 5, passes, cfgs)
    torch.testing.assert_close(out[:5, ..., :3], torch.round(first * 255) / 255, atol=1 / 255 + 1e-6, rtol=0)


@torch.no_grad()
def test_denoise_zero_decodes_the_empty_latent(ctx, parts, short_plan):
    (out,) = run_looper(ctx, parts, denoise=0.0)
    _, _, vae = parts
    (zeros,) = node("VAEDecode")(ctx, samples={"samples": torch.zeros(1, 16, 2, H // 8, W // 8)}, vae=vae)
    torch.testing.assert_close(out[:5, ..., :3], torch.round(zeros.clamp(0, 1) * 255) / 255,
                               atol=1 / 255 + 1e-6, rtol=0)


@torch.no_grad()
def test_an_empty_negative_text_gives_a_zero_negative_prediction(ctx, parts):
    models, clip, _ = parts
    negative = negative_conditioning(ctx, clip, "")
    assert [options["strength"] for _, options in negative] == [0.0]
    (positive,) = node("CLIPTextEncode")(ctx, text="a cat", clip=clip)
    predictor = WanPredictor(models["high"], positive, negative, "cpu")
    x = torch.zeros(1, 16, 1, 2, 2)
    assert predictor(x, torch.tensor([500.0]), "uncond") is None  # ComfyUI's empty conditioning: x0 of zeros
    (blur,) = negative_conditioning(ctx, clip, "blur")
    assert "strength" not in blur[1]


def test_refusals(ctx, parts):
    with pytest.raises(NodeInputError, match="forever"):
        run_looper(ctx, parts, project_data=json.dumps({"prompt_lines": ["a", "b"]}), overlap=8)
    with pytest.raises(NodeInputError, match="not a project object") as err:
        run_looper(ctx, parts, project_data="[1]")
    assert err.value.input_name == "project_data"
    with pytest.raises(NodeInputError, match="IMAGE batch") as err:
        run_looper(ctx, parts, start_image=torch.rand(24, 40, 3))
    assert err.value.input_name == "start_image"


# --- the single looper ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def single_parts(ctx, parts):
    models, clip, vae = parts
    (cv,) = node("CLIPVisionLoader")(ctx, clip_name="clip_vision_h_tiny.safetensors")
    return models["high"], clip, vae, cv


def run_single(ctx, single_parts, **inputs):
    model, clip, vae, cv = single_parts
    base = dict(model=model, clip=clip,
                project_data=json.dumps({"id": "t", "prompt_lines": ["a cat", "a dog"], "start_prompt": 0}),
                negative_text="blur", seed=11, steps=2, cfg=1.5, sampler_name="euler", scheduler="simple",
                width=W + 8, height=H + 4, batch_size=1, denoise=1.0, fps="16", overlap=2, crop="center", vae=vae,
                clip_vision=cv, start_image=_start())
    return node("VantageI2VSingleLooper")(ctx, **{**base, **inputs})


def by_hand_single_segment(ctx, single_parts, text, image, length, steps=2, denoise=1.0):
    """One single-looper segment with core nodes: prompts, CLIPVisionEncode of the seed frame,
    WanImageToVideo, one KSampler, VAEDecode."""
    model, clip, vae, cv = single_parts
    (pos,) = node("CLIPTextEncode")(ctx, text=text, clip=clip)
    (neg,) = node("CLIPTextEncode")(ctx, text="blur", clip=clip)
    (vision,) = node("CLIPVisionEncode")(ctx, clip_vision=cv, image=image, crop="center")
    pos, neg, latent = node("WanImageToVideo")(ctx, positive=pos, negative=neg, vae=vae, width=W, height=H,
                                               length=length, batch_size=1, start_image=image,
                                               clip_vision_output=vision)
    (latent,) = node("KSampler")(ctx, model=model, seed=11, steps=steps, cfg=1.5, sampler_name="euler",
                                 scheduler="simple", positive=pos, negative=neg, latent_image=latent, denoise=denoise)
    (images,) = node("VAEDecode")(ctx, samples=latent, vae=vae)
    return images.clamp(0, 1)


@pytest.fixture
def short_single_plan(monkeypatch):
    plan = [Segment(0, "a cat", 5, 2, 5, 0), Segment(1, "a dog", 5, 2, 5, 2)]
    seen = []

    def fake(lines, fps, overlap, batch):
        seen.append((lines, fps, overlap, batch))
        return plan

    monkeypatch.setattr(looper, "plan_segments", fake)  # the loopers' shared plan (looper.checked_segments)
    return seen


@torch.no_grad()
def test_single_looper_one_ksampler_per_segment_carrying_a_frame(ctx, single_parts, short_single_plan):
    (out,) = run_single(ctx, single_parts)
    assert short_single_plan == [(("a cat", "a dog"), 16, 2, 1)]
    first = by_hand_single_segment(ctx, single_parts, "a cat", _start(), 5)  # 40x20 -> 32x16
    second = by_hand_single_segment(ctx, single_parts, "a dog", first[3:4], 5)  # 2nd from the end
    want = torch.cat([first, second[2:]])
    assert out.shape == (8, H, W, 4)
    assert torch.equal(out[..., 3], torch.ones_like(out[..., 3]))
    torch.testing.assert_close(out[..., :3], torch.round(want * 255) / 255, atol=1 / 255 + 1e-6, rtol=0)


@torch.no_grad()
def test_single_looper_denoise_is_ksamplers(ctx, single_parts, short_single_plan):
    (out,) = run_single(ctx, single_parts, steps=4, denoise=0.5)
    first = by_hand_single_segment(ctx, single_parts, "a cat", _start(), 5, steps=4, denoise=0.5)
    torch.testing.assert_close(out[:5, ..., :3], torch.round(first * 255) / 255, atol=1 / 255 + 1e-6, rtol=0)


def test_single_looper_refusals(ctx, single_parts):
    with pytest.raises(NodeInputError, match="CLIP vision") as err:
        run_single(ctx, single_parts, clip_vision=None)
    assert err.value.input_name == "clip_vision"
    with pytest.raises(NodeInputError, match="forever") as err:
        run_single(ctx, single_parts, project_data=json.dumps({"prompt_lines": ["a", "b"]}), overlap=8)
    assert err.value.input_name == "overlap"
    with pytest.raises(NodeInputError, match="scheduler"):
        run_single(ctx, single_parts, scheduler="nope")
