"""ComfyUI's core video nodes and Save Animated WEBP: files written, read back (frames within
codec tolerance, the embedded workflow through ``read_workflow``), never overwritten."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageSequence

from node_helpers import node
from wfrun.formats.source import read_workflow
from wfrun.media.video import iter_frames, probe, read_metadata
from wfrun.media.video_value import Video
from wfrun.nodes.executor import ExecContext, NodeInputError

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = json.loads((ROOT / "workflows" / "wan_t2v_tiny.json").read_text(encoding="utf-8"))


def run(class_type, ctx, **inputs):
    return node(class_type)(ctx, **inputs)


@pytest.fixture
def ctx(tmp_path):
    (tmp_path / "input").mkdir()
    return ExecContext(input_dir=tmp_path / "input", output_dir=tmp_path / "output", workflow_json=WORKFLOW)


def smooth_frames(n=5, h=16, w=32) -> torch.Tensor:
    """Slowly varying colours (what 4:2:0 video keeps well), each frame a little brighter."""
    x = torch.linspace(0.2, 0.8, w).view(1, w).expand(h, w)
    y = torch.linspace(0.3, 0.6, h).view(h, 1).expand(h, w)
    return torch.stack([torch.stack([x, y, torch.full((h, w), 0.25 + 0.1 * i)], -1) for i in range(n)])


def decoded(path) -> np.ndarray:
    return np.stack(list(iter_frames(path))).astype(np.float32) / 255.0


def tone(seconds=2.0, rate=44100, channels=2):
    t = torch.arange(int(seconds * rate)) / rate
    wave = 0.5 * torch.sin(2 * torch.pi * 440 * t)
    return {"waveform": wave.view(1, 1, -1).expand(1, channels, -1).contiguous(), "sample_rate": rate}


# ---------------------------------------------------------------------------- SaveVideo

def test_save_video_frames_workflow_and_numbering(ctx):
    images = smooth_frames()
    (video,) = run("CreateVideo", ctx, images=images, fps=8)
    assert isinstance(video, Video) and video.bit_depth == 8 and video.audio is None
    (out,) = run("SaveVideo", ctx, video=video)
    assert out is video
    (out,) = run("SaveVideo", ctx, video=video)
    folder = ctx.output_dir / "video"  # the spec's default prefix video/ComfyUI
    assert sorted(p.name for p in folder.iterdir()) == ["ComfyUI_00001_.mp4", "ComfyUI_00002_.mp4"]
    first = folder / "ComfyUI_00001_.mp4"
    info = probe(first)
    assert (info.width, info.height, info.fps, info.frame_count, info.codec) == (32, 16, 8.0, 5, "h264")
    assert info.pix_fmt.startswith("yuv420p(") and "bt709" in info.pix_fmt
    frames = decoded(first)
    assert frames.shape == (5, 16, 32, 3)
    assert np.abs(frames - images.numpy()).mean() < 0.01 and np.abs(frames - images.numpy()).max() < 0.05
    assert read_workflow(first).data == WORKFLOW
    tags = read_metadata(first)
    assert json.loads(tags["workflow"]) == WORKFLOW
    assert ctx.written == [first, folder / "ComfyUI_00002_.mp4"]


def test_save_video_never_replaces_a_file_taken_meanwhile(ctx, monkeypatch):
    """Another process took the counter after wfrun looked: the next number is used."""
    import wfrun.packs.comfy_core.video_nodes as video_nodes

    folder = ctx.output_dir / "clip"
    folder.mkdir(parents=True)
    real = video_nodes.save_target

    def stale(*args, **kwargs):
        target = real(*args, **kwargs)
        (target.folder / f"{target.filename}_{target.counter:05}_.mp4").write_bytes(b"someone else's")
        return target

    monkeypatch.setattr(video_nodes, "save_target", stale)
    (video,) = run("CreateVideo", ctx, images=smooth_frames(2), fps=4)
    run("SaveVideo", ctx, video=video, filename_prefix="clip/x")
    assert (folder / "x_00001_.mp4").read_bytes() == b"someone else's"
    assert probe(folder / "x_00002_.mp4").frame_count == 2
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temporary left


def test_save_video_with_audio_and_ten_bits(ctx):
    images = smooth_frames(8)
    (video,) = run("CreateVideo", ctx, images=images, fps=8, audio=tone(), bit_depth=10)
    run("SaveVideo", ctx, video=video, filename_prefix="a")
    path = ctx.output_dir / "a_00001_.mp4"
    info = probe(path)
    assert info.pix_fmt.startswith("yuv420p10le") and info.frame_count == 8
    assert read_workflow(path).data == WORKFLOW
    # loaded back: frames, rate, depth and the audio (cut to the video's second)
    shutil.copy(path, ctx.input_dir / "a.mp4")
    (loaded,) = run("LoadVideo", ctx, file="a.mp4")
    assert loaded.bit_depth == 10 and loaded.fps == 8.0 and loaded.images.shape == (8, 16, 32, 3)
    assert np.abs(loaded.images.numpy() - images.numpy()).mean() < 0.01
    waveform = loaded.audio["waveform"]
    assert loaded.audio["sample_rate"] == 44100 and waveform.shape[:2] == (1, 2)
    assert 0.9 * 44100 < waveform.shape[2] < 1.1 * 44100  # the video's 1 s, not the tone's 2 s
    assert 0.3 < float(waveform.abs().max()) < 0.7


def test_get_video_components(ctx):
    images = smooth_frames(3)
    (video,) = run("CreateVideo", ctx, images=images, fps=12.5, audio=tone(0.5))
    out_images, audio, fps, bit_depth, color_space = run("GetVideoComponents", ctx, video=video)
    assert color_space == "sRGB"
    assert out_images is images and audio["sample_rate"] == 44100 and fps == 12.5 and bit_depth == 8


def test_load_video_reads_frames_and_refuses_escapes(ctx):
    (video,) = run("CreateVideo", ctx, images=smooth_frames(4), fps=16)
    run("SaveVideo", ctx, video=video, filename_prefix="v")
    shutil.copy(ctx.output_dir / "v_00001_.mp4", ctx.input_dir / "v.mp4")
    (loaded,) = run("LoadVideo", ctx, file="v.mp4")
    assert loaded.images.shape == (4, 16, 32, 3) and loaded.fps == 16.0 and loaded.audio is None
    assert loaded.images.dtype == torch.float32 and 0 <= float(loaded.images.min()) <= float(loaded.images.max()) <= 1
    (from_output,) = run("LoadVideo", ctx, file="v_00001_.mp4 [output]")
    assert from_output.images.shape == (4, 16, 32, 3)
    for bad in ("../output/v_00001_.mp4", "/etc/hostname", "missing.mp4"):
        with pytest.raises(NodeInputError) as err:
            run("LoadVideo", ctx, file=bad)
        assert err.value.input_name == "file"
    (ctx.input_dir / "not_a_video.mp4").write_text("hello")
    with pytest.raises(NodeInputError, match="ffmpeg"):
        run("LoadVideo", ctx, file="not_a_video.mp4")


@pytest.mark.parametrize("inputs,name", [
    ({"video": "not a video"}, "video"),
    ({"format": "webm"}, "format"),
    ({"codec": "av1"}, "codec"),
    ({"filename_prefix": "../outside"}, "filename_prefix"),
    # the newer signature's codec nested in the format, and its encoding mode
    ({"format.codec": "av1", "codec": "auto"}, "format.codec"),
    ({"format.codec": "h264", "format.codec.encoding": "re-encode", "format.codec.encoding.crf": 18.0},
     "format.codec.encoding"),
])
def test_save_video_input_errors(ctx, inputs, name):
    video = Video(smooth_frames(2), 8.0)
    with pytest.raises(NodeInputError) as err:
        run("SaveVideo", ctx, **{"video": video, **inputs})
    assert err.value.input_name == name
    assert not (ctx.output_dir / "video").exists() or not list((ctx.output_dir / "video").iterdir())


def test_save_video_odd_size_is_a_clear_error(ctx):
    with pytest.raises(NodeInputError, match="even width"):
        run("SaveVideo", ctx, video=Video(torch.zeros(2, 15, 32, 3), 8.0))


@pytest.mark.parametrize("inputs,name", [
    ({"images": torch.zeros(2, 3)}, "images"),
    ({"fps": 0}, "fps"),
    ({"bit_depth": 12}, "bit_depth"),
    ({"audio": {"waveform": torch.zeros(2, 3)}}, "audio"),
])
def test_create_video_input_errors(ctx, inputs, name):
    with pytest.raises(NodeInputError) as err:
        run("CreateVideo", ctx, **{"images": smooth_frames(2), "fps": 8, **inputs})
    assert err.value.input_name == name


# ---------------------------------------------------------------------------- SaveWEBM, SaveAnimatedWEBP

def test_save_webm_vp9(ctx):
    images = smooth_frames(4)
    (out,) = run("SaveWEBM", ctx, images=images, codec="vp9", fps=10, crf=10)
    assert out is images
    path = ctx.output_dir / "ComfyUI_00001_.webm"
    info = probe(path)
    assert info.codec == "vp9" and info.frame_count == 4 and info.fps == 10.0
    assert np.abs(decoded(path) - images.numpy()).mean() < 0.02
    assert read_workflow(path).data == WORKFLOW


def test_save_animated_webp_exif_and_frames(ctx):
    images = smooth_frames(3)
    ctx.workflow_json = {"1": {"class_type": "SaveAnimatedWEBP", "inputs": {}}}  # an API prompt
    run("SaveAnimatedWEBP", ctx, images=images, method="fastest", filename_prefix="anim")
    path = ctx.output_dir / "anim_00001_.webp"
    with Image.open(path) as img:
        frames = [np.asarray(f.convert("RGB"), np.float32) / 255 for f in ImageSequence.Iterator(img)]
        assert img.info["duration"] == int(1000 / 6)  # the spec's 6 fps
        exif = img.getexif()
    assert exif[0x0110] == "prompt:" + json.dumps(ctx.workflow_json)
    assert 0x010F not in exif
    truncated = np.clip(images.numpy() * 255, 0, 255).astype(np.uint8) / 255  # lossless by default
    assert len(frames) == 3 and np.abs(np.stack(frames) - truncated).max() < 1e-6
    assert read_workflow(path).data == ctx.workflow_json


def test_save_animated_webp_ui_workflow_and_counter(ctx):
    run("SaveAnimatedWEBP", ctx, images=smooth_frames(2), method="default", lossless=False, quality=50)
    run("SaveAnimatedWEBP", ctx, images=smooth_frames(2), method="default")
    names = sorted(p.name for p in ctx.output_dir.iterdir())
    assert names == ["ComfyUI_00001_.webp", "ComfyUI_00002_.webp"]
    loaded = read_workflow(ctx.output_dir / names[0])
    assert loaded.data == WORKFLOW and "0x010F" in loaded.origin
    with pytest.raises(NodeInputError) as err:
        run("SaveAnimatedWEBP", ctx, images=smooth_frames(2), method="best")
    assert err.value.input_name == "method"


# ---------------------------------------------------------------------------- through the engine

def test_engine_runs_math_switch_and_video_nodes(ctx):
    """Autogrow (values.a) and plain sockets through build, plan and run; the switch picks a
    frame rate, the math makes the frame count, SaveVideo embeds the API prompt."""
    from wfrun.engine.plan import make_plan
    from wfrun.engine.run import NodeError, run_plan
    from wfrun.formats.document import from_data
    from wfrun.graph import build

    prompt = {
        "1": {"class_type": "PrimitiveFloat", "inputs": {"value": 1.5}},
        "2": {"class_type": "ComfyMathExpression", "inputs": {"expression": "a * 2", "values.a": ["1", 0]}},
        "3": {"class_type": "EmptyImage", "inputs": {"width": 32, "height": 16, "batch_size": ["2", 1],
                                                      "color": 0x336699}},
        "4": {"class_type": "PrimitiveBoolean", "inputs": {"value": True}},
        "5": {"class_type": "ComfySwitchNode", "inputs": {"switch": ["4", 0], "on_true": ["2", 0],
                                                           "on_false": ["1", 0]}},
        "6": {"class_type": "CreateVideo", "inputs": {"images": ["3", 0], "fps": ["5", 0]}},
        "7": {"class_type": "SaveVideo", "inputs": {"video": ["6", 0], "filename_prefix": "e2e"}},
    }
    ctx.workflow_json = prompt
    graph = build(from_data(prompt, "p.json"))
    result = run_plan(graph, make_plan(graph), ctx)
    saved = ctx.output_dir / "e2e_00001_.mp4"
    assert result.written == [saved]
    info = probe(saved)
    assert (info.frame_count, info.fps) == (3, 3.0)
    assert read_workflow(saved).data == prompt
    prompt["2"]["inputs"]["expression"] = "a.real"
    graph = build(from_data(prompt, "p.json"))
    with pytest.raises(NodeError, match=r"node 2 .*input 'expression'"):
        run_plan(graph, make_plan(graph), ctx)


def test_newer_create_video_options(ctx):
    """color_space and codec (newer saves): sRGB and no codec make the same VIDEO as before;
    HDR and AV1 are refused by name."""
    frames = smooth_frames(2)
    (plain,) = run("CreateVideo", ctx, images=frames, fps=8.0, bit_depth=8)
    (newer,) = run("CreateVideo", ctx, images=frames, fps=8.0, bit_depth="auto", color_space="sRGB", codec="none")
    assert newer.bit_depth == plain.bit_depth == 8 and torch.equal(newer.images, plain.images)
    for inputs, name in (({"color_space": "HDR"}, "color_space"), ({"codec": "av1"}, "codec")):
        with pytest.raises(NodeInputError) as err:
            run("CreateVideo", ctx, images=frames, fps=8.0, **inputs)
        assert err.value.input_name == name
