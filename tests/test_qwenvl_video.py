"""Video input to Qwen2.5-VL / Qwen3-VL without torchvision, against the video processors'
documented steps written out here a second way (per-patch loops in float64, hand-computed
sizes, frame picks, timestamps and token counts), and the tiny models' generate fed by that
second construction."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from wfrun.models import qwenvl_video as qv
from wfrun.models.paths import ModelRoots
from wfrun.models.qwenvl_tiny import write_tiny_qwenvl
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.qwenvl import nodes

CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)


@pytest.fixture(scope="module", params=["qwen2_5_vl", "qwen3_vl"])
def models(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(request.param)
    name = "Qwen2.5-VL-3B-Instruct" if request.param == "qwen2_5_vl" else "Qwen3-VL-4B-Instruct"
    folder = write_tiny_qwenvl(root / "LLM" / "Qwen-VL" / name, kind=request.param, seed=4)
    (root / "LLM" / "Qwen-VL" / "AILab_System_Prompts.json").write_text(json.dumps({"qwenvl": {"p": "Say it."}}))
    return root, name, folder, request.param


def frames_of(count, height, width, seed=0):
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)) for _ in range(count)]


def reference_patches(frames, patch, temporal, merge, mean, std):
    """Rows in the order the vision tower reads them: temporal patch, merge window (row,
    column), patch within the window (row, column); each row channel, frame, y, x."""
    x = (np.stack([np.asarray(f, dtype=np.float64) for f in frames]) / 255 - np.array(mean)) / np.array(std)
    while len(x) % temporal:
        x = np.concatenate([x, x[-1:]])
    rows = []
    for t in range(0, len(x), temporal):
        for by in range(x.shape[1] // patch // merge):
            for bx in range(x.shape[2] // patch // merge):
                for my in range(merge):
                    for mx in range(merge):
                        y0, x0 = (by * merge + my) * patch, (bx * merge + mx) * patch
                        block = x[t:t + temporal, y0:y0 + patch, x0:x0 + patch, :]
                        rows.append(block.transpose(3, 0, 1, 2).reshape(-1))
    return np.stack(rows)


def rules_of(folder, kind):
    return qv.read_video_rules(folder, kind)


def test_smart_resize_by_hand():
    # Qwen2.5-VL's repository settings (3136..12845056 pixels), 832x480: round(480/28)=17 -> 476,
    # round(832/28)=30 -> 840, 476*840 inside the bounds.
    assert qv.smart_resize(480, 832, 28, 3136, 12845056) == (476, 840)
    # Qwen2-VL video defaults, 1920x1080 over 28*28*768: beta = sqrt(1080*1920/602112) = 1.8558,
    # floor(1080/1.8558/28) = 20 -> 560, floor(1920/1.8558/28) = 36 -> 1008.
    assert qv.smart_resize(1080, 1920, 28, 128 * 28 * 28, 28 * 28 * 768) == (560, 1008)
    # Qwen3-VL counts the frames: 4 frames of 832x480 = 1597440 pixels, under 25165824, kept.
    assert qv.smart_resize(480, 832, 32, 4096, 25165824, num_frames=4) == (480, 832)
    # ... and 4 frames under a 4*64*64 budget shrink each frame to one 64x64 window.
    assert qv.smart_resize(64, 64, 32, 1, 4 * 64 * 64 - 1, num_frames=4) == (32, 32)
    with pytest.raises(qv.VideoInputError, match="at least 2"):
        qv.smart_resize(64, 64, 32, 1, 10 ** 9, num_frames=1)


def test_tiny_rules(models):
    root, name, folder, kind = models
    rules = rules_of(folder, kind)
    if kind == "qwen2_5_vl":  # no video file: the image processor's file, Qwen2VLVideoProcessor
        assert (rules.family, rules.patch_size, rules.do_sample_frames) == ("qwen2", 14, False)
        assert (rules.min_pixels, rules.max_pixels) == (14 * 14 * 4 * 16, 14 * 14 * 4 * 64)
        assert rules.image_mean == CLIP_MEAN
    else:
        assert (rules.family, rules.patch_size, rules.do_sample_frames, rules.fps) == ("qwen3", 16, True, 2)
        assert rules.image_mean == (0.5, 0.5, 0.5)


def test_qwen2_image_processor_file_names_the_video_processor(tmp_path):
    """As AutoVideoProcessor: no video_processor_type, the image class renamed decides."""
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({"image_processor_type": "Qwen2VLImageProcessor",
                                                                    "patch_size": 16}))
    assert qv.read_video_rules(tmp_path, "qwen3_vl").family == "qwen2"
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({"do_resize": False}))
    with pytest.raises(qv.VideoInputError, match="do_resize"):
        qv.read_video_rules(tmp_path, "qwen2_5_vl")


def test_patches_exact_without_resize(models):
    root, name, folder, kind = models
    rules = rules_of(folder, kind)
    if kind == "qwen2_5_vl":
        # 168x112 is 6x4 windows of 28 = 18816 pixels, inside 12544..50176: no resize; every
        # frame kept, 5 frames padded to 6 with the last.
        frames = frames_of(5, 112, 168)
        kept, grid = frames, [3, 8, 12]
    else:
        # 16 frames at an assumed 24 fps, 2 wanted per second: int(16/24*2) = 1, raised to
        # min_frames 4: round(linspace(0, 15, 4)) = 0, 5, 10, 15. 4 frames of 128x96 = 49152
        # pixels, inside 8192..131072: no resize.
        frames = frames_of(16, 96, 128)
        kept, grid = [frames[i] for i in (0, 5, 10, 15)], [2, 6, 8]
    out = qv.process_video(rules, frames)
    assert out.video_grid_thw.tolist() == [grid]
    expected = reference_patches(kept, rules.patch_size, 2, 2, rules.image_mean, rules.image_std)
    assert out.pixel_values_videos.dtype == torch.float32
    np.testing.assert_allclose(out.pixel_values_videos.numpy(), expected, atol=2e-5)


def test_resize_close_to_pil_bicubic():
    """A pure downscale: torch's antialiased uint8 bicubic (torchvision's CPU path) within two
    levels of PIL's, 336x224 to smart_resize's 252x168."""
    rules = qv.VideoRules(family="qwen2", min_pixels=12544, max_pixels=50176, patch_size=14, temporal_patch_size=2,
                          merge_size=2, image_mean=CLIP_MEAN, image_std=CLIP_STD)
    frames = frames_of(2, 224, 336, seed=5)
    out = qv.process_video(rules, frames)
    assert out.video_grid_thw.tolist() == [[1, 12, 18]]
    resized = [f.resize((252, 168), Image.BICUBIC) for f in frames]
    expected = reference_patches(resized, 14, 2, 2, CLIP_MEAN, CLIP_STD)
    assert np.abs(out.pixel_values_videos.numpy() - expected).max() <= 2 / 255 / min(CLIP_STD) + 1e-5


def test_constant_frame_value_by_hand():
    rules = qv.VideoRules(family="qwen2", min_pixels=12544, max_pixels=50176, patch_size=14, temporal_patch_size=2,
                          merge_size=2, image_mean=CLIP_MEAN, image_std=CLIP_STD)
    frame = Image.new("RGB", (301, 207), (200, 100, 50))  # resized: a constant stays constant
    values = qv.process_video(rules, [frame]).pixel_values_videos
    per_channel = values.reshape(values.shape[0], 3, -1)
    assert per_channel[:, 0].sub((200 / 255 - 0.48145466) / 0.26862954).abs().max() < 1e-5
    assert per_channel[:, 1].sub((100 / 255 - 0.4578275) / 0.26130258).abs().max() < 1e-5
    assert per_channel[:, 2].sub((50 / 255 - 0.40821073) / 0.27577711).abs().max() < 1e-5


def expected_text(kind, body):
    """The chat the tiny template makes, with the video placeholder expanded by hand."""
    if kind == "qwen2_5_vl":
        video = "<|video_pad|>" * (3 * 8 * 12 // 4)
    else:  # two temporal patches of 6x8 patches: 12 tokens each; times (0+5)/2/24, (10+15)/2/24
        frame = "<|vision_start|>" + "<|video_pad|>" * 12 + "<|vision_end|>"
        video = "<0.1 seconds>" + frame + "<0.5 seconds>" + frame
    return f"<|im_start|>user\n<|vision_start|>{video}<|vision_end|>{body}<|im_end|>\n<|im_start|>assistant\n"


def second_construction(folder, kind, frames, body):
    """Model inputs built from the hand-expanded text and the per-patch reference."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    encoded = tok(expected_text(kind, body), return_tensors="pt")
    ids = encoded["input_ids"]
    if kind == "qwen2_5_vl":
        kept, patch, mean, std, grid = frames, 14, CLIP_MEAN, CLIP_STD, [3, 8, 12]
    else:
        kept, patch, mean, std, grid = [frames[i] for i in (0, 5, 10, 15)], 16, (0.5,) * 3, (0.5,) * 3, [2, 6, 8]
    pixels = torch.tensor(reference_patches(kept, patch, 2, 2, mean, std), dtype=torch.float32)
    inputs = dict(encoded, mm_token_type_ids=(ids == tok.convert_tokens_to_ids("<|video_pad|>")).long() * 2,
                  pixel_values_videos=pixels, video_grid_thw=torch.tensor([grid]))
    if kind == "qwen2_5_vl":
        inputs["second_per_grid_ts"] = torch.tensor([2 / 24])  # 2 frames a patch at the assumed 24 fps
    return tok, inputs


def test_chat_inputs(models):
    root, name, folder, kind = models
    from wfrun.models.qwenvl import load_qwen, vl_inputs

    parts = load_qwen(folder, torch.float32, "cpu")
    frames = frames_of(5, 112, 168) if kind == "qwen2_5_vl" else frames_of(16, 96, 128)
    conversation = [{"role": "user", "content": [{"type": "video", "video": frames}, {"type": "text", "text": "hi"}]}]
    mine = vl_inputs(parts, conversation, [], [frames])
    tok, ref = second_construction(folder, kind, frames, "hi")
    assert tok.decode(mine["input_ids"][0]) == expected_text(kind, "hi")
    assert set(mine) == set(ref)
    for key in ref:
        assert mine[key].dtype == ref[key].dtype, key
        if key == "pixel_values_videos":
            torch.testing.assert_close(mine[key], ref[key], atol=2e-5, rtol=0)
        else:
            assert torch.equal(mine[key], ref[key]), key


def test_advanced_node_video_generate_matches_second_construction(models):
    root, name, folder, kind = models
    from transformers import AutoModelForImageTextToText

    count, height, width = (5, 112, 168) if kind == "qwen2_5_vl" else (16, 96, 128)
    rng = np.random.default_rng(9)
    video = torch.from_numpy(rng.integers(0, 256, (count, height, width, 3)).astype(np.float32) / 255)
    (text,) = nodes.qwenvl_advanced(
        ExecContext(models=ModelRoots((root,)), saved_date="2026-03-06"), model_name=name, preset_prompt="p",
        custom_prompt="a car", max_tokens=10, temperature=0.6, top_p=0.9, num_beams=1, repetition_penalty=1.2,
        frame_count=16, keep_model_loaded=False, seed=11, device="cpu", quantization="None (FP16)",
        keep_last_prompt=False, image=None, video=video)
    frames = [nodes.to_pil(f) for f in video]  # the pack's own conversion of each frame
    tok, inputs = second_construction(folder, kind, frames, "a car\n\nSay it.")
    model = AutoModelForImageTextToText.from_pretrained(folder, dtype=torch.float32).eval()
    torch.manual_seed(11)
    out = model.generate(**inputs, max_new_tokens=10, repetition_penalty=1.2, num_beams=1, do_sample=True,
                         temperature=0.6, top_p=0.9, eos_token_id=[tok.eos_token_id], pad_token_id=tok.pad_token_id)
    assert text == tok.decode(out[0, inputs["input_ids"].shape[-1]:], skip_special_tokens=True).strip()


def test_one_frame_video_qwen3_refuses_qwen25_pads(models):
    """Qwen3-VL's processor refuses a one-frame video; Qwen2.5-VL's pads it to a temporal
    patch by repeating the frame, so it answers as for the frame given twice."""
    root, name, folder, kind = models

    def ask(video):
        return nodes.qwenvl_advanced(ExecContext(models=ModelRoots((root,)), saved_date="2026-03-06"),
                                     model_name=name, preset_prompt="p", custom_prompt="", max_tokens=4,
                                     temperature=0.6, top_p=0.9, num_beams=1, repetition_penalty=1.2, frame_count=16,
                                     keep_model_loaded=False, seed=1, device="cpu", quantization="None (FP16)",
                                     keep_last_prompt=False, image=None, video=video)

    one = torch.rand(1, 64, 64, 3, generator=torch.Generator().manual_seed(3))
    if kind == "qwen3_vl":
        with pytest.raises(NodeInputError) as err:
            ask(one)
        assert err.value.input_name == "video" and "at least 2" in str(err.value)
    else:
        assert ask(one) == ask(one.repeat(2, 1, 1, 1))
