"""VHS_LoadVideo and VHS_VideoCombine: frame selection, sizes, formats, metadata, numbering."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from node_helpers import node
from wfrun.engine.plan import make_plan
from wfrun.engine.run import run_plan
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.formats.document import from_data
from wfrun.graph import build
from wfrun.media import video as mv
from wfrun.media.image import read_png_text
from wfrun.packs.vhs.video_nodes import select_frames, target_size, to_pingpong

WORKFLOW = {"nodes": [{"id": 1, "type": "VHS_VideoCombine"}], "links": [], "extra": {"note": "a=b;#"}}
H264 = {"format": "video/h264-mp4", "pix_fmt": "yuv420p", "crf": 19, "save_metadata": True,
        "trim_to_audio": False}


def run(class_type, ctx, **inputs):
    return node(class_type)(ctx, **inputs)


@pytest.fixture
def ctx(tmp_path):
    (tmp_path / "input").mkdir()
    return ExecContext(input_dir=tmp_path / "input", output_dir=tmp_path / "output", workflow_json=WORKFLOW)


def levels(n):
    """Frame i is flat grey at level 10 + 12 * i (distinct after lossy coding)."""
    return [(10 + 12 * i) for i in range(n)]


@pytest.fixture
def clip(ctx):
    """20 frames, 64x48, 10 fps, frame i at grey level 10 + 12 i."""
    path = ctx.input_dir / "clip.mp4"
    frames = (np.full((48, 64, 3), v, np.uint8).tobytes() for v in levels(20))
    mv.encode(frames, path, width=64, height=48, frame_rate=10,
              output_args=["-n", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "1"])
    return path


def frame_levels(images):
    return [round(float(f.mean()) * 255) for f in images]


def close_to(got, want, tol=3):
    return len(got) == len(want) and all(abs(g - w) <= tol for g, w in zip(got, want))


# ---------------------------------------------------------------------------- loading

def test_load_video_all_frames_and_info(ctx, clip):
    images, count, audio, info = run("VHS_LoadVideo", ctx, video="clip.mp4", format="None")
    assert images.shape == (20, 48, 64, 3) and images.dtype == torch.float32 and count == 20 and audio is None
    assert close_to(frame_levels(images), levels(20))
    assert info["source_fps"] == 10 and info["source_frame_count"] == 20
    assert (info["source_width"], info["source_height"]) == (64, 48)
    assert info["loaded_frame_count"] == 20 and info["loaded_fps"] == 10


def test_load_video_gives_the_sound_of_the_loaded_frames(ctx, clip):
    # a stereo ramp of known samples, stored losslessly (PCM in Matroska), so the cut can be
    # checked sample by sample: VHS's get_audio seeks skip_first_frames frame times in and
    # reads frame_load_cap frame times of the selection (select_every_nth of them each)
    rate = 8000
    ramp = np.arange(2 * rate, dtype=np.float32) / (2 * rate)
    waveform = torch.from_numpy(np.stack([ramp, -ramp]))[None]
    mv.mux_audio(clip, ctx.input_dir / "talk.mkv", waveform, rate, ["-c:a", "pcm_f32le"])
    _, count, audio, _ = run("VHS_LoadVideo", ctx, video="talk.mkv", format="None", skip_first_frames=3,
                             select_every_nth=2, frame_load_cap=4)
    start, length = int(0.3 * rate), int(0.8 * rate)  # 3 frames at 10 fps; 4 frames of 2 at 10 fps
    assert count == 4 and audio["sample_rate"] == rate and audio["waveform"].shape[:2] == (1, 2)
    got = audio["waveform"][0].numpy()
    assert abs(got.shape[1] - length) <= 1
    n = min(got.shape[1], length)
    np.testing.assert_allclose(got[:, :n], waveform[0, :, start:start + n].numpy(), atol=1e-6)
    # no frame cap: the sound from the first kept frame to the end
    _, _, whole, _ = run("VHS_LoadVideo", ctx, video="talk.mkv", format="None", skip_first_frames=5)
    assert abs(whole["waveform"].shape[2] - (2 * rate - int(0.5 * rate))) <= 1


def test_load_video_cap_skip_nth(ctx, clip):
    images, count, _, info = run("VHS_LoadVideo", ctx, video="clip.mp4", format="None", skip_first_frames=3,
                                 select_every_nth=2, frame_load_cap=4)
    assert count == 4 and close_to(frame_levels(images), [levels(20)[i] for i in (3, 5, 7, 9)])
    assert info["loaded_fps"] == 5 and info["loaded_duration"] == pytest.approx(0.8)
    _, count, _, _ = run("VHS_LoadVideo", ctx, video="clip.mp4", format="None", select_every_nth=3)
    assert count == 7  # frames 0, 3, …, 18
    _, count, _, _ = run("VHS_LoadVideo", ctx, video="clip.mp4", format="None", skip_first_frames=18)
    assert count == 2
    with pytest.raises(NodeInputError, match="no frames"):
        run("VHS_LoadVideo", ctx, video="clip.mp4", format="None", skip_first_frames=20)


def test_load_video_force_rate_drops_and_repeats(ctx, clip):
    images, count, _, info = run("VHS_LoadVideo", ctx, video="clip.mp4", format="None", force_rate=5)
    assert count == 10 and close_to(frame_levels(images), levels(20)[::2])
    assert info["loaded_fps"] == 5
    images, count, _, _ = run("VHS_LoadVideo", ctx, video="clip.mp4", format="None", force_rate=20,
                              frame_load_cap=6)
    # VHS's time accumulator starts a full target step ahead: the first frame once, then pairs
    assert count == 6 and close_to(frame_levels(images), [levels(20)[i] for i in (0, 1, 1, 2, 2, 3)])


def test_select_frames_matches_vhs_loop():
    frames = list(range(10))
    assert list(select_frames(frames, 10, 0, 0, 0, 1)) == frames
    assert list(select_frames(frames, 10, 0, 3, 2, 3)) == [2, 5, 8]
    assert list(select_frames(frames, 10, 0, 0, 0, 4)) == [0, 4, 8]
    assert list(select_frames([], 10, 0, 0, 0, 1)) == []


def test_load_video_sizes_and_formats(ctx, clip):
    images, *_ = run("VHS_LoadVideo", ctx, video="clip.mp4", format="None", custom_width=32)
    assert images.shape[1:] == (24, 32, 3)  # height follows the aspect
    images, *_ = run("VHS_LoadVideo", ctx, video="clip.mp4", format="AnimateDiff", custom_width=30, custom_height=30)
    assert images.shape[1:] == (32, 32, 3)  # rounded to /8, centre-cropped then lanczos
    images, count, _, info = run("VHS_LoadVideo", ctx, video="clip.mp4", format="Wan")
    assert count == 17 and info["loaded_frame_count"] == 17  # 4n+1
    assert (info["loaded_width"], info["loaded_height"]) == (64, 48)
    # default format is AnimateDiff: 64x48 already /8, untouched
    images, count, *_ = run("VHS_LoadVideo", ctx, video="clip.mp4")
    assert images.shape == (20, 48, 64, 3)


def test_target_size_rounding():
    assert target_size(60, 44, 0, 0, 8) == (64, 48)
    assert target_size(640, 360, 0, 0, 16) == (640, 368)
    assert target_size(640, 480, 320, 0, 8) == (320, 240)
    assert target_size(640, 480, 0, 100, 1) == (133, 100)


def test_load_video_old_force_size(ctx, clip):
    images, *_ = run("VHS_LoadVideo", ctx, video="clip.mp4", force_size="Disabled", custom_width=512,
                     custom_height=512)
    assert images.shape[1:] == (48, 64, 3)
    images, *_ = run("VHS_LoadVideo", ctx, video="clip.mp4", force_size="32x?", custom_width=512, custom_height=512)
    assert images.shape[1:] == (24, 32, 3)
    images, *_ = run("VHS_LoadVideo", ctx, video="clip.mp4", force_size="Custom Height", custom_width=8,
                     custom_height=24)
    assert images.shape[1:] == (24, 32, 3)


@pytest.mark.parametrize("name", ["../clip.mp4", "/etc/passwd", "link.mp4"])
def test_load_video_refuses_escape(ctx, clip, name):
    outside = ctx.input_dir.parent / "clip.mp4"
    outside.write_bytes(clip.read_bytes())
    (ctx.input_dir / "link.mp4").symlink_to(outside)
    with pytest.raises(NodeInputError) as err:
        run("VHS_LoadVideo", ctx, video=name)
    assert err.value.input_name == "video"


def test_load_video_refusals(ctx, clip):
    with pytest.raises(NodeInputError, match="not found"):
        run("VHS_LoadVideo", ctx, video="missing.mp4")
    with pytest.raises(NodeInputError) as err:
        run("VHS_LoadVideo", ctx, video="clip.mp4", vae=object())
    assert err.value.input_name == "vae"
    (ctx.input_dir / "bad.mp4").write_text("not a video")
    with pytest.raises(NodeInputError, match="cannot read"):
        run("VHS_LoadVideo", ctx, video='"bad.mp4"')  # quotes stripped, as VHS does


# ---------------------------------------------------------------------------- combining

def frames(n, h=48, w=64):
    return torch.stack([torch.full((h, w, 3), v / 255) for v in levels(n)])


def test_video_combine_mp4_readback_metadata_and_no_overwrite(ctx):
    (result,) = run("VHS_VideoCombine", ctx, images=frames(9), frame_rate=8, loop_count=0,
                    filename_prefix="clips/wan", pingpong=False, save_output=True, **H264)
    save_output, paths = result
    folder = ctx.output_dir / "clips"
    assert save_output is True and [p for p in paths] == [str(folder / "wan_00001.png"), str(folder / "wan_00001.mp4")]
    info = mv.probe(paths[1])
    assert (info.width, info.height, info.frame_count, info.fps) == (64, 48, 9, 8.0)
    assert info.codec == "h264"
    tags = mv.read_metadata(paths[1])
    assert json.loads(tags["workflow"]) == WORKFLOW
    png_text = read_png_text(paths[0])
    assert json.loads(png_text["workflow"]) == WORKFLOW and "CreationTime" in png_text
    assert np.asarray(Image.open(paths[0])).shape == (48, 64, 3)
    assert [str(p) for p in ctx.written] == paths
    first_bytes = (folder / "wan_00001.mp4").read_bytes()

    (again,) = run("VHS_VideoCombine", ctx, images=frames(3), frame_rate=8, loop_count=0,
                   filename_prefix="clips/wan", pingpong=False, save_output=True, **H264)
    assert again[1][1].endswith("wan_00002.mp4") and mv.probe(again[1][1]).frame_count == 3
    assert (folder / "wan_00001.mp4").read_bytes() == first_bytes


def test_video_combine_counter_follows_existing_files(ctx):
    ctx.output_dir.mkdir()
    (ctx.output_dir / "wan_00007-audio.mp4").write_bytes(b"")
    (ctx.output_dir / "other_00050.mp4").write_bytes(b"")
    (result,) = run("VHS_VideoCombine", ctx, images=frames(2), frame_rate=8, filename_prefix="wan", **H264)
    assert result[1][1].endswith("wan_00008.mp4")


def test_video_combine_ignores_a_vae_beside_images_and_refuses_latents(ctx):
    # VHS decodes with the VAE only when it is given latents; beside images it is ignored
    (result,) = run("VHS_VideoCombine", ctx, images=frames(3), frame_rate=8, filename_prefix="vae", vae=object(),
                    **H264)
    assert len(list(mv.iter_frames(result[1][1]))) == 3
    with pytest.raises(NodeInputError) as err:
        run("VHS_VideoCombine", ctx, images={"samples": torch.zeros(1, 16, 2, 4, 4)}, frame_rate=8,
            filename_prefix="vae", vae=object(), **H264)
    assert err.value.input_name == "vae"


def test_video_combine_pingpong_and_loop_counts(ctx):
    (result,) = run("VHS_VideoCombine", ctx, images=frames(5), frame_rate=8, pingpong=True,
                    filename_prefix="pp", **H264)
    decoded = list(mv.iter_frames(result[1][1]))
    assert len(decoded) == 8  # 5 + 3 back
    assert close_to([round(float(f.mean())) for f in decoded], [levels(5)[i] for i in (0, 1, 2, 3, 4, 3, 2, 1)])
    (result,) = run("VHS_VideoCombine", ctx, images=frames(4), frame_rate=8, loop_count=2,
                    filename_prefix="loop", **H264)
    assert mv.probe(result[1][1]).frame_count == 12  # played 1 + 2 times
    assert list(to_pingpong([1, 2])) == [1, 2] and list(to_pingpong([1])) == [1]


def test_video_combine_preview_goes_to_temp_and_odd_size_padded(ctx):
    (result,) = run("VHS_VideoCombine", ctx, images=frames(3, h=47, w=63), frame_rate=8, filename_prefix="prev",
                    save_output=False, **H264)
    assert result[0] is False and all("/temp/" in p for p in result[1])
    info = mv.probe(result[1][1])
    assert (info.width, info.height) == (64, 48)


def test_video_combine_oldest_saves_name_it_save_image(ctx):
    """Saves from before ``save_output`` carry ``save_image``; the engine still fills the newest
    default ``save_output=True``, and the saved ``save_image`` wins over it."""
    (result,) = run("VHS_VideoCombine", ctx, images=frames(3), frame_rate=8, filename_prefix="old",
                    save_image=False, **H264)
    assert result[0] is False and all("/temp/" in p for p in result[1])


def test_video_combine_without_metadata_and_without_png(ctx):
    ctx.workflow_json = {**WORKFLOW, "extra": {"VHS_MetadataImage": False}}
    (result,) = run("VHS_VideoCombine", ctx, images=frames(2), frame_rate=8, filename_prefix="plain",
                    **{**H264, "save_metadata": False})
    assert len(result[1]) == 1 and result[1][0].endswith(".mp4")
    assert "workflow" not in mv.read_metadata(result[1][0])


@pytest.mark.parametrize("fmt,extra,ext,codec", [
    ("video/h265-mp4", {"pix_fmt": "yuv420p", "crf": 28}, "mp4", "hevc"),
    ("video/webm", {"pix_fmt": "yuv420p", "crf": 40}, "webm", "vp9"),
    ("video/ffmpeg-gif", {"dither": "bayer"}, "gif", "gif"),
    ("video/ProRes", {"profile": "lt"}, "mov", "prores"),
    ("video/ffv1-mkv", {}, "mkv", "ffv1"),
])
def test_video_combine_other_ffmpeg_formats(ctx, fmt, extra, ext, codec):
    (result,) = run("VHS_VideoCombine", ctx, images=frames(3), frame_rate=8, filename_prefix="f", format=fmt,
                    **extra)
    info = mv.probe(result[1][-1])
    assert result[1][-1].endswith(f".{ext}") and info.frame_count == 3 and info.codec.startswith(codec)


def test_video_combine_pillow_formats(ctx):
    (result,) = run("VHS_VideoCombine", ctx, images=frames(4), frame_rate=10, loop_count=0, filename_prefix="anim",
                    format="image/gif", pingpong=True)
    with Image.open(result[1][-1]) as gif:
        assert gif.n_frames == 6 and gif.info["duration"] == 100
    (result,) = run("VHS_VideoCombine", ctx, images=frames(4), frame_rate=10, filename_prefix="anim",
                    format="image/webp", lossless=True)
    assert result[1][-1].endswith("anim_00002.webp")
    with Image.open(result[1][-1]) as webp:
        assert webp.n_frames == 4


def test_video_combine_audio_mux(ctx):
    sr = 8000
    audio = {"waveform": torch.zeros(1, 1, sr // 2), "sample_rate": sr}
    (result,) = run("VHS_VideoCombine", ctx, images=frames(8), frame_rate=8, filename_prefix="talk", audio=audio,
                    **H264)
    assert [p.rsplit("/", 1)[-1] for p in result[1]] == ["talk_00001.png", "talk_00001.mp4", "talk_00001-audio.mp4"]
    assert mv.probe(result[1][2]).frame_count == 8
    ctx.workflow_json = {**WORKFLOW, "extra": {"VHS_KeepIntermediate": False}}
    (result,) = run("VHS_VideoCombine", ctx, images=frames(8), frame_rate=8, filename_prefix="talk", audio=audio,
                    **H264)
    assert [p.rsplit("/", 1)[-1] for p in result[1]] == ["talk_00002.png", "talk_00002-audio.mp4"]
    assert not (ctx.output_dir / "talk_00002.mp4").exists()


def test_video_combine_refusals(ctx):
    for fmt, match in (("video/gifski", "gifski program"), ("video/nope", "unknown"), ("gif", "unknown")):
        with pytest.raises(NodeInputError, match=match):
            run("VHS_VideoCombine", ctx, images=frames(2), frame_rate=8, filename_prefix="x", format=fmt)
    with pytest.raises(NodeInputError) as err:
        run("VHS_VideoCombine", ctx, images=frames(2), frame_rate=8, filename_prefix="../x", **H264)
    assert err.value.input_name == "filename_prefix"
    with pytest.raises(NodeInputError) as err:
        run("VHS_VideoCombine", ctx, images=frames(2), frame_rate=8, filename_prefix="x",
            **{**H264, "pix_fmt": "rgb0"})
    assert err.value.input_name == "pix_fmt"
    assert run("VHS_VideoCombine", ctx, images=torch.zeros(0, 4, 4, 3), frame_rate=8, **H264) == ((True, []),)


# ---------------------------------------------------------------------------- through the engine

def test_api_prompt_load_video_to_combine(ctx, clip):
    prompt = {
        "1": {"class_type": "VHS_LoadVideo", "inputs": {"video": "clip.mp4", "force_rate": 0, "custom_width": 0,
                                                        "custom_height": 0, "frame_load_cap": 9,
                                                        "skip_first_frames": 0, "select_every_nth": 1,
                                                        "format": "Wan"}},
        "2": {"class_type": "GetImageSizeAndCount", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "VHS_VideoCombine", "inputs": {"images": ["2", 0], "frame_rate": 16, "loop_count": 0,
                                                           "filename_prefix": "wan/out", "pingpong": False,
                                                           "save_output": True, **H264}},
    }
    ctx.workflow_json = prompt
    graph = build(from_data(prompt, "p.json"))
    result = run_plan(graph, make_plan(graph), ctx)
    video = ctx.output_dir / "wan" / "out_00001.mp4"
    assert video in result.written
    info = mv.probe(video)
    assert (info.frame_count, info.fps, info.width, info.height) == (9, 16.0, 64, 48)
    assert json.loads(mv.read_metadata(video)["prompt"]) == prompt
