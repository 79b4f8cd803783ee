"""wfrun.media: safe paths, save counters, PNG metadata, resampling, ffmpeg encode/decode/metadata, samples."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from wfrun.media import image as mi, samples, video as mv

# ---------------------------------------------------------------------------- paths


def test_resolve_inside_accepts_plain_and_subfolder_names(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.png").write_bytes(b"x")
    assert mi.resolve_inside(tmp_path, "sub/a.png") == (tmp_path / "sub" / "a.png").resolve()
    assert mi.resolve_inside(tmp_path, "sub\\a.png") == (tmp_path / "sub" / "a.png").resolve()


@pytest.mark.parametrize("name", ["/etc/passwd", "../secret.png", "sub/../../x.png", "C:\\x.png", "\\\\server\\x",
                                  "", "a\0b"])
def test_resolve_inside_refuses_escapes(tmp_path, name):
    with pytest.raises(mi.MediaPathError):
        mi.resolve_inside(tmp_path, name)


def test_resolve_inside_refuses_symlink_out(tmp_path):
    outside = tmp_path / "outside"
    inside = tmp_path / "input"
    outside.mkdir()
    inside.mkdir()
    (outside / "x.png").write_bytes(b"x")
    os.symlink(outside / "x.png", inside / "link.png")
    os.symlink(outside, inside / "dir")
    with pytest.raises(mi.MediaPathError, match="outside"):
        mi.resolve_inside(inside, "link.png")
    with pytest.raises(mi.MediaPathError, match="outside"):
        mi.resolve_inside(inside, "dir/x.png")


def test_existing_inside_names_near_files(tmp_path):
    (tmp_path / "photo.png").write_bytes(b"x")
    with pytest.raises(mi.MediaPathError, match="photo.png"):
        mi.existing_inside(tmp_path, "phot.png")


def test_split_annotation():
    assert mi.split_annotation("a.png [output]") == ("a.png", "output")
    assert mi.split_annotation("a.png [input]") == ("a.png", "input")
    assert mi.split_annotation("a.png") == ("a.png", None)


# ---------------------------------------------------------------------------- save targets

def test_save_target_counter_and_subfolder(tmp_path):
    t = mi.save_target(tmp_path, "run/clip")
    assert t.folder == (tmp_path / "run").resolve() and t.filename == "clip" and t.counter == 1
    assert t.subfolder == "run"
    (t.folder / "clip_00001_.png").write_bytes(b"")
    (t.folder / "clip_00007_.png").write_bytes(b"")
    (t.folder / "clipx_00050_.png").write_bytes(b"")  # another prefix: ignored
    assert mi.save_target(tmp_path, "run/clip").counter == 8


def test_save_target_variables(tmp_path):
    t = mi.save_target(tmp_path, "img_%width%x%height%", width=64, height=32)
    assert t.filename == "img_64x32"


@pytest.mark.parametrize("prefix", ["../x", "/tmp/x", "a/../../x"])
def test_save_target_refuses_outside(tmp_path, prefix):
    with pytest.raises(mi.MediaPathError):
        mi.save_target(tmp_path / "out", prefix)


def test_workflow_metadata_kinds():
    ui = {"nodes": [], "links": []}
    api = {"1": {"class_type": "X", "inputs": {}}}
    assert mi.workflow_metadata(ui) == {"workflow": ui}
    assert mi.workflow_metadata(api) == {"prompt": api}
    assert mi.workflow_metadata(None) == {}


# ---------------------------------------------------------------------------- pngs and loading

def test_write_png_text_and_never_overwrite(tmp_path):
    path = tmp_path / "a.png"
    array = np.zeros((4, 5, 3), np.uint8)
    mi.write_png(path, array, {"workflow": {"nodes": [1]}, "note": "hi"})
    text = mi.read_png_text(path)
    assert json.loads(text["workflow"]) == {"nodes": [1]} and text["note"] == "hi"
    with pytest.raises(FileExistsError):
        mi.write_png(path, array + 1)
    assert np.asarray(Image.open(path)).max() == 0


def test_load_image_file_alpha_to_mask(tmp_path):
    rgba = np.zeros((6, 8, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[..., 3] = 255
    rgba[:2, :, 3] = 0  # top rows transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    images, masks = mi.load_image_file(tmp_path / "a.png")
    assert images.shape == (1, 6, 8, 3) and images.dtype == torch.float32
    assert torch.allclose(images[0, ..., 0], torch.ones(6, 8))
    assert masks.shape == (1, 6, 8)
    assert torch.equal(masks[0, :2], torch.ones(2, 8)) and torch.equal(masks[0, 2:], torch.zeros(4, 8))


def test_load_image_file_without_alpha_gives_64_mask(tmp_path):
    Image.fromarray(np.full((5, 7, 3), 128, np.uint8)).save(tmp_path / "a.jpg", quality=100)
    images, masks = mi.load_image_file(tmp_path / "a.jpg")
    assert images.shape == (1, 5, 7, 3) and masks.shape == (1, 64, 64) and masks.abs().sum() == 0
    assert abs(float(images.mean()) - 128 / 255) < 0.01


def test_load_image_file_multiframe_skips_other_sizes(tmp_path):
    frames = [Image.new("RGB", (8, 6), (i * 40, 0, 0)) for i in range(3)]
    frames.append(Image.new("RGB", (4, 4), (0, 0, 255)))
    frames[0].save(tmp_path / "a.tiff", save_all=True, append_images=frames[1:])
    images, masks = mi.load_image_file(tmp_path / "a.tiff")
    assert images.shape[0] == 3 and images.shape[1:] == (6, 8, 3)
    assert [round(float(v) * 255) for v in images[:, 0, 0, 0]] == [0, 40, 80]
    assert masks.shape == (3, 64, 64)


def test_load_image_file_exif_rotation(tmp_path):
    img = Image.new("RGB", (8, 4), (10, 20, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 on display
    img.save(tmp_path / "r.jpg", exif=exif)
    images, _ = mi.load_image_file(tmp_path / "r.jpg")
    assert images.shape == (1, 8, 4, 3)


def test_load_image_file_rejects_non_image(tmp_path):
    (tmp_path / "x.png").write_text("not an image")
    with pytest.raises(mi.MediaPathError, match="not an image"):
        mi.load_image_file(tmp_path / "x.png")


# ---------------------------------------------------------------------------- resampling

def test_to_uint8_truncates_like_comfyui():
    t = torch.tensor([[[0.999, 0.5, 1.5]]])
    assert mi.to_uint8(t).tolist() == [[[254, 127, 255]]]


def test_common_upscale_center_crop_takes_middle():
    # 1x1x4x8 ramp; centre crop to a square keeps columns 2..5
    ramp = torch.arange(8, dtype=torch.float32).repeat(4, 1)[None, None]
    out = mi.common_upscale(ramp, 4, 4, "nearest-exact", "center")
    assert out.shape == (1, 1, 4, 4)
    assert out[0, 0, 0].tolist() == [2, 3, 4, 5]


def test_common_upscale_modes_and_lanczos_shape():
    x = torch.rand(2, 3, 10, 12)
    for method in ("nearest-exact", "bilinear", "area", "bicubic", "lanczos"):
        assert mi.common_upscale(x, 6, 5, method).shape == (2, 3, 5, 6)
    gray = torch.rand(1, 1, 10, 12)
    assert mi.lanczos(gray, 6, 5).shape == (1, 1, 5, 6)
    with pytest.raises(ValueError):
        mi.common_upscale(x, 6, 5, "bogus")


def test_lanczos_constant_image_stays_constant():
    x = torch.full((1, 3, 9, 9), 0.6)
    out = mi.lanczos(x, 5, 4)
    assert torch.allclose(out, torch.full_like(out, int(0.6 * 255) / 255))


# ---------------------------------------------------------------------------- video

H264 = ["-n", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "19"]


def _frames(n, h=32, w=48):
    g = torch.Generator().manual_seed(0)
    return [torch.rand(h, w, 3, generator=g) for _ in range(n)]


def test_encode_probe_decode_roundtrip(tmp_path):
    path = tmp_path / "v.mp4"
    frames = [torch.full((32, 48, 3), i / 10) for i in range(10)]
    sent = mv.encode(mv.frames_to_bytes(frames), path, width=48, height=32, frame_rate=12, output_args=H264)
    assert sent == 10
    info = mv.probe(path)
    assert (info.width, info.height, info.frame_count, info.fps) == (48, 32, 10, 12.0)
    decoded = list(mv.iter_frames(path))
    assert len(decoded) == 10 and decoded[0].shape == (32, 48, 3)
    means = [f.mean() / 255 for f in decoded]
    assert all(abs(m - i / 10) < 0.03 for i, m in enumerate(means))


def test_encode_metadata_roundtrip_and_escaping(tmp_path):
    path = tmp_path / "m.mp4"
    workflow = {"nodes": [{"id": 1, "title": "a=b; #c\\d\nnext"}]}
    mv.encode(mv.frames_to_bytes(_frames(3)), path, width=48, height=32, frame_rate=8, output_args=H264,
              metadata={"workflow": workflow, "prompt": {"1": {"class_type": "X"}}})
    tags = mv.read_metadata(path)
    assert json.loads(tags["workflow"]) == workflow
    assert json.loads(tags["prompt"]) == {"1": {"class_type": "X"}}


def test_encode_never_overwrites(tmp_path):
    path = tmp_path / "v.mp4"
    mv.encode(mv.frames_to_bytes(_frames(2)), path, width=48, height=32, frame_rate=8, output_args=H264)
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        mv.encode(mv.frames_to_bytes(_frames(4)), path, width=48, height=32, frame_rate=8, output_args=H264)
    assert path.read_bytes() == before


def test_encode_reports_ffmpeg_errors(tmp_path):
    with pytest.raises(mv.VideoError, match="ffmpeg failed"):
        mv.encode(mv.frames_to_bytes(_frames(2)), tmp_path / "v.mp4", width=48, height=32, frame_rate=8,
                  output_args=["-n", "-c:v", "no_such_codec"])


def test_probe_rejects_non_video(tmp_path):
    (tmp_path / "x.mp4").write_text("nope")
    with pytest.raises(mv.VideoError):
        mv.probe(tmp_path / "x.mp4")


def test_merge_filter_args_and_ffmetadata_parse():
    args = ["-i", "-", "-vf", "a", "-c", "x", "-vf", "b", "-vf", "c"]
    mv.merge_filter_args(args)
    assert args == ["-i", "-", "-vf", "a,b,c", "-c", "x"]
    doc = mv.ffmetadata_document({"x": "a=b;c#d\\e\nf"})
    assert mv.parse_ffmetadata(doc) == {"x": json.dumps("a=b;c#d\\e\nf")}


def test_mux_audio(tmp_path):
    video = tmp_path / "v.mp4"
    mv.encode(mv.frames_to_bytes(_frames(8)), video, width=48, height=32, frame_rate=8, output_args=H264)
    sr = 8000
    wave = torch.sin(torch.arange(sr) / sr * 2 * torch.pi * 440)[None, None].repeat(1, 2, 1)
    out = mv.mux_audio(video, tmp_path / "va.mp4", wave, sr, ["-c:a", "aac"], pad_to_seconds=2.0)
    assert out.exists() and mv.probe(out).frame_count == 8


# ---------------------------------------------------------------------------- samples

def test_samples_images_and_control_video(tmp_path):
    start, end = samples.start_end_images(64, 48)
    assert start.shape == (48, 64, 3) and start.dtype == np.uint8
    assert not np.array_equal(start, end)
    depth = samples.depth_frames(32, 16, 5)
    assert depth.shape == (5, 16, 32, 3)
    assert np.array_equal(depth[..., 0], depth[..., 1])  # grey
    assert depth[:, -1].mean() > depth[:, 0].mean()  # near (bottom) brighter than far
    paths = samples.write_start_end_images(tmp_path, 64, 48)
    assert all(p.exists() for p in paths)
    video = samples.write_control_video(tmp_path / "c.mp4", 64, 48, frames=9, fps=16)
    info = mv.probe(video)
    assert (info.width, info.height, info.frame_count, info.fps) == (64, 48, 9, 16.0)
    # kept, not replaced, unless asked
    mtime = video.stat().st_mtime_ns
    samples.write_control_video(video, 64, 48, frames=5)
    assert video.stat().st_mtime_ns == mtime
    assert samples.main([str(tmp_path / "cli"), "--width", "32", "--height", "16", "--frames", "3"]) == 0
    assert mv.probe(tmp_path / "cli" / "control.mp4").frame_count == 3


def test_save_prefix_date_fields_as_the_frontend_fills_them(tmp_path):
    import time

    from wfrun.media.image import save_target

    target = save_target(tmp_path, "%date:yyyy-MM-dd%/clip_%date:M.d%")
    now = time.localtime()
    assert target.subfolder == f"{now.tm_year:04}-{now.tm_mon:02}-{now.tm_mday:02}"
    assert target.filename == f"clip_{now.tm_mon}.{now.tm_mday}"
