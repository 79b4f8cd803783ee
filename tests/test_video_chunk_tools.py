"""gregtee2/ComfyUI_VideoChunkTools (and RES4LYF's text boxes): the pack's frame arithmetic
against a simulation of the chunks, its utilities against their formulas written out, and
WanChunkedI2VSampler on tiny wrapper models, watching what it hands the wrapper's nodes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from node_helpers import node
from test_sampling_loop import load, tiny_files  # noqa: F401 (fixture)
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.video_chunk_tools import chunked_sampler
from wfrun.packs.video_chunk_tools.chunked_sampler import crossfade
from wfrun.packs.video_chunk_tools.plan import chunks_for_frames, flf_last_chunk, normalize_chunk_frames
from wfrun.packs.video_chunk_tools.resize import resize_to_target
from wfrun.sampling.conditioning import TextEmbeds

I2V = "wan2.2_i2v_high_noise_14B_tiny_fp8_scaled.safetensors"


def joined_length(chunks: int, size: int) -> int:
    """Frames left after joining ``chunks`` lists of ``size`` frames, each later one
    dropping its first frame (the simulation the calculator's formula must match)."""
    video: list[int] = []
    for k in range(chunks):
        frames = list(range(size))
        video += frames[1:] if k else frames
    return len(video)


@pytest.mark.parametrize("chunk_frames", [5, 7, 8, 9, 81, 83, 2])
@pytest.mark.parametrize("num_chunks", [1, 2, 3, 7])
def test_calculator_is_the_joined_length_of_4n_plus_1_chunks(num_chunks, chunk_frames):
    size = max(5, chunk_frames - (chunk_frames - 1) % 4)  # round down to 4n+1, at least 5
    assert normalize_chunk_frames(chunk_frames) == size
    (total,) = node("WanVideoChunkCalculator")(ExecContext(), num_chunks=num_chunks, chunk_frames=chunk_frames)
    assert total == joined_length(num_chunks, size)


@pytest.mark.parametrize("total", [5, 9, 10, 17, 18, 161, 241, 242])
def test_sampler_plans_the_fewest_chunks_that_reach_the_total(total):
    k = chunks_for_frames(total, 9)
    assert joined_length(k, 9) >= total
    assert k == 1 or joined_length(k - 1, 9) < total


def test_flf_last_chunk_grows_to_the_next_4n_plus_1_holding_the_crossfade():
    assert flf_last_chunk(81, 13, 3, True) == (13, 97)  # 81 + 13 = 94 -> 97
    assert flf_last_chunk(81, 16, 3, True) == (16, 97)  # 97 exactly
    assert flf_last_chunk(9, 40, 3, True) == (4, 13)    # at most half a chunk
    assert flf_last_chunk(81, 13, 1, True) == (0, 81)   # one chunk: nothing to fade into
    assert flf_last_chunk(81, 13, 3, False) == (0, 81)


def test_crossfade_is_cubic_ease_in():
    tail, head = torch.zeros(3, 2, 2, 3), torch.ones(3, 2, 2, 3)
    out = crossfade(tail, head)
    expected = [(i / 4) ** 3 for i in (1, 2, 3)]  # t = i/(n+1), weights t^3 on the new chunk
    assert [round(float(out[i, 0, 0, 0]), 6) for i in range(3)] == [round(e, 6) for e in expected]


def fake_text(seed: int) -> TextEmbeds:
    g = torch.Generator().manual_seed(seed)
    return TextEmbeds(prompt_embeds=(torch.randn(4, 8, generator=g),), negative_prompt_embeds=(torch.randn(3, 8, generator=g),))


def test_chain_keeps_slot_order_and_skips_gaps():
    a, b, c = fake_text(1), fake_text(2), fake_text(3)
    (seq,) = node("ChainTextEmbeds")(ExecContext(), embed_1=a, embed_3=b, embed_8=c)
    assert len(seq) == 3 and seq[0] is a and seq[1] is b and seq[2] is c
    with pytest.raises(NodeInputError) as err:
        node("ChainTextEmbeds")(ExecContext(), embed_1=a, embed_2="text")
    assert err.value.input_name == "embed_2"


def test_text_boxes_pass_their_strings_on():
    assert node("TextBox1")(ExecContext(), text1="a") == ("a",)
    assert node("TextBox3")(ExecContext(), text1="a", text2="b\nc", text3="") == ("a", "b\nc", "")


def video(frames: int, h: int = 4, w: int = 5, seed: int = 0) -> torch.Tensor:
    return torch.rand(frames, h, w, 3, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("curve", ["linear", "ease_in_out", "sigmoid"])
def test_blend_crossfades_the_overlap_frame_by_frame(curve):
    a, b, n = video(10, seed=1), video(8, seed=2), 4
    out, count = node("BlendVideoChunks")(ExecContext(), chunk_a=a, chunk_b=b, overlap_frames=n, blend_curve=curve)
    assert count == out.shape[0] == 10 + 8 - n
    for i in range(n):
        t = i / (n - 1)
        if curve == "ease_in_out":
            t = 3 * t * t - 2 * t ** 3
        elif curve == "sigmoid":
            s = lambda x: 1 / (1 + torch.exp(torch.tensor((x - 0.5) * 12.0)))  # noqa: E731
            t = float((1 / (1 + torch.exp(torch.tensor(-(t - 0.5) * 12.0))) - s(1.0)) / (s(0.0) - s(1.0)))
        torch.testing.assert_close(out[10 - n + i], a[10 - n + i] * (1 - t) + b[i] * t, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out[:10 - n], a[:10 - n])
    torch.testing.assert_close(out[10:], b[n:])


def test_concat_extract_and_frame_picking():
    a, b = video(6, seed=1), video(5, seed=2)
    out, count = node("ConcatVideoChunks")(ExecContext(), chunk_a=a, chunk_b=b, trim_b_start=1)
    torch.testing.assert_close(out, torch.cat([a, b[1:]]))
    assert count == 10
    long = video(300, h=1, w=1)
    layout = [node("ExtractVideoChunk")(ExecContext(), images=long, chunk_index=i, chunk_frames=81,
                                        overlap_frames=16) for i in range(5)]
    # the pack's documented layout: 0-80, 65-145, 130-210, 195-275, then the last slid back to 219-299
    for (chunk, total, index, last), start in zip(layout, (0, 65, 130, 195, 219)):
        torch.testing.assert_close(chunk, long[start:start + 81])
        assert total == 5
    assert [x[3] for x in layout] == [False, False, False, False, True]
    v = video(10)
    torch.testing.assert_close(node("GetFrameByIndex")(ExecContext(), images=v, index=-1)[0], v[9:10])
    torch.testing.assert_close(node("GetFrameByIndex")(ExecContext(), images=v, index=99)[0], v[9:10])
    torch.testing.assert_close(node("GetFrameRange")(ExecContext(), images=v, start=-3, end=0)[0], v[7:])
    torch.testing.assert_close(node("GetFrameRange")(ExecContext(), images=v, start=2, end=-5)[0], v[2:5])
    assert node("GetFrameRange")(ExecContext(), images=v, start=6, end=3)[1] == 1  # end at least start + 1


def test_resize_crop_and_pad_place_the_image_as_asked():
    img = video(1, h=40, w=80, seed=3)
    # crop to 32x32 on the left: the 40x40 window at x=0, then bicubic
    want = F.interpolate(img[:, :, :40].movedim(-1, 1), size=(32, 32), mode="bicubic").movedim(1, -1)
    torch.testing.assert_close(resize_to_target(img, 32, 32, "crop", "left"), want)
    # pad to 64x64 at the top: scaled to 64x32, black rows below
    out = resize_to_target(img, 64, 64, "pad", "top")
    scaled = F.interpolate(img.movedim(-1, 1), size=(32, 64), mode="bicubic").movedim(1, -1)
    torch.testing.assert_close(out[:, :32], scaled)
    assert float(out[:, 32:].abs().max()) == 0.0
    assert resize_to_target(img, 80, 40, "crop", "center") is img


@pytest.fixture(scope="module")
def wan(tiny_files):  # noqa: F811
    ctx = ExecContext(models=ModelRoots.from_options(tiny_files))
    vae = node("WanVideoVAELoader")(ctx, model_name="Wan2_1_VAE_tiny_fp32.safetensors", precision="fp32")[0]
    high, low = load(tiny_files, I2V, "i2v"), load(tiny_files, I2V, "i2v")
    dim = int(high.transformer.config.text_dim)
    g = torch.Generator().manual_seed(5)
    texts = [TextEmbeds(prompt_embeds=(torch.randn(6, dim, generator=g),),
                        negative_prompt_embeds=(torch.randn(4, dim, generator=g),)) for _ in range(2)]
    return ctx, vae, high, low, texts


def watch(monkeypatch) -> list[tuple[str, dict, tuple]]:
    """Record every wrapper call (inputs and outputs) the chunked sampler makes."""
    calls: list[tuple[str, dict, tuple]] = []
    real = chunked_sampler._wrapper

    def spy(class_type):
        fn = real(class_type)

        def call(ctx, **inputs):
            out = fn(ctx, **inputs)
            calls.append((class_type, inputs, out))
            return out
        return call

    monkeypatch.setattr(chunked_sampler, "_wrapper", spy)
    return calls


@torch.no_grad()
def test_chunked_sampler_rolls_the_last_frame_into_the_next_chunk(wan, monkeypatch):
    ctx, vae, high, low, texts = wan
    calls = watch(monkeypatch)
    start = video(1, h=48, w=40, seed=7)
    out, count, chunks = node("WanChunkedI2VSampler")(
        ctx, model=high, model_b=low, vae=vae, start_image=start, total_frames=11, chunk_frames=5, width=32,
        height=32, steps=2, split_step=1, cfg=1.0, cfg_b=1.0, shift=5.0, seed=3, scheduler="euler",
        force_offload=False, text_embed_sequence=tuple(texts))
    assert out.shape == (11, 32, 32, 3) and count == 11 and chunks == 3  # 5 + 4 + 4 = 13, cut to 11
    encodes = [c for c in calls if c[0] == "WanVideoImageToVideoEncode"]
    samples = [c for c in calls if c[0] == "WanVideoSampler"]
    decodes = [c[2][0] for c in calls if c[0] == "WanVideoDecode"]
    assert len(encodes) == len(decodes) == 3 and len(samples) == 6
    # chunk 1 starts from the start image fitted to 32x32; chunk k+1 from chunk k's decoded last frame
    torch.testing.assert_close(encodes[0][1]["start_image"], resize_to_target(start, 32, 32, "crop", "center"))
    for k in range(2):
        torch.testing.assert_close(encodes[k + 1][1]["start_image"], decodes[k][-1:], rtol=0, atol=0)
    assert all(e[1]["num_frames"] == 5 and "end_image" not in e[1] for e in encodes)
    # each chunk: model for steps [0, 1), then model_b for [1, end) on that latent, the same seed
    for k in range(3):
        first, second = samples[2 * k][1], samples[2 * k + 1][1]
        assert first["model"] is high and (first["start_step"], first["end_step"]) == (0, 1)
        assert second["model"] is low and (second["start_step"], second["end_step"]) == (1, -1)
        assert second["samples"] is samples[2 * k][2][0] and first["seed"] == second["seed"] == 3
        assert first["text_embeds"] is texts[min(k, 1)]  # the last prompt repeats
    # the video: chunk 1 whole, later chunks without their first (reference) frame, cut to 11
    torch.testing.assert_close(out, torch.cat([decodes[0], decodes[1][1:], decodes[2][1:]])[:11], rtol=0, atol=0)


@torch.no_grad()
def test_end_image_goes_to_the_last_chunk_and_crossfades(wan, monkeypatch):
    ctx, vae, high, _low, texts = wan
    calls = watch(monkeypatch)
    end = video(1, h=32, w=32, seed=9)
    out, count, chunks = node("WanChunkedI2VSampler")(
        ctx, model=high, vae=vae, start_image=video(1, h=32, w=32, seed=8), end_image=end, end_blend_chunks=2,
        total_frames=9, chunk_frames=5, width=32, height=32, steps=1, cfg=1.0, shift=5.0, seed=1,
        scheduler="euler", force_offload=False, text_embeds=texts[0])
    encodes = [c[1] for c in calls if c[0] == "WanVideoImageToVideoEncode"]
    decodes = [c[2][0] for c in calls if c[0] == "WanVideoDecode"]
    assert "end_image" not in encodes[0] and encodes[1]["end_image"] is not None
    assert [e["num_frames"] for e in encodes] == [5, 9]  # 5 + 2 crossfade frames -> 9
    first, last = decodes[0], decodes[1][1:]
    # chunk 1 keeps 3 frames and hands its 3rd on; its last 2 fade into the last chunk's head
    torch.testing.assert_close(encodes[1]["start_image"], first[2:3], rtol=0, atol=0)
    expected = torch.cat([first[:3], crossfade(first[3:], last[:2]), last[2:]])[:9]
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    assert count == 9 and chunks == 3  # the pack counts the crossfaded head as a part of its own


def test_split_step_must_leave_steps_for_model_b(wan):
    ctx, vae, high, low, _texts = wan
    with pytest.raises(NodeInputError) as err:
        node("WanChunkedI2VSampler")(ctx, model=high, model_b=low, vae=vae, start_image=video(1), steps=4,
                                     split_step=4)
    assert err.value.input_name == "split_step"
