"""VideoHelperSuite's path loaders (wfrun/packs/vhs/path_loaders.py) on real files made here:
frames, counts and selection against the pack's rules re-derived below, and the refusals a
workflow from the internet must meet (escapes, absolute paths outside wfrun's folders,
symlinks leading out, URLs, missing files)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from node_helpers import node
from wfrun.engine.executors import executor_info
from wfrun.media import video as mv
from wfrun.nodes.executor import ExecContext, NodeInputError

PACK_EXTENSIONS = {".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp"}


def run(class_type, ctx, **inputs):
    return node(class_type)(ctx, **inputs)


@pytest.fixture
def ctx(tmp_path):
    (tmp_path / "input").mkdir()
    (tmp_path / "output").mkdir()
    return ExecContext(input_dir=tmp_path / "input", output_dir=tmp_path / "output")


def levels(n):
    return [10 + 12 * i for i in range(n)]


def write_clip(path, n=20):
    frames = (np.full((48, 64, 3), v, np.uint8).tobytes() for v in levels(n))
    mv.encode(frames, path, width=64, height=48, frame_rate=10,
              output_args=["-n", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "1"])
    return path


@pytest.fixture
def clip(ctx):
    """20 frames, 64x48, 10 fps, frame i flat grey at 10 + 12 i."""
    return write_clip(ctx.input_dir / "clip.mp4")


def frame_levels(images):
    return [round(float(f.mean()) * 255) for f in images]


def close_to(got, want, tol=3):
    return len(got) == len(want) and all(abs(g - w) <= tol for g, w in zip(got, want))


def pack_selection(n, skip, nth, cap):
    """The pack's loop over a constant-rate clip without force_rate: skip, every n-th, cap."""
    chosen = list(range(n))[skip:][::nth]
    return chosen[:cap] if cap else chosen


# ---------------------------------------------------------------------------- VHS_LoadVideoPath

@pytest.mark.parametrize("skip,nth,cap", [(0, 1, 0), (3, 2, 4), (1, 3, 0), (18, 1, 0), (0, 4, 3)])
def test_load_video_path_selects_as_the_pack(ctx, clip, skip, nth, cap):
    images, count, audio, info = run("VHS_LoadVideoPath", ctx, video="clip.mp4", format="None",
                                     skip_first_frames=skip, select_every_nth=nth, frame_load_cap=cap)
    want = pack_selection(20, skip, nth, cap)
    assert count == len(want) == images.shape[0] and audio is None
    assert images.shape[1:] == (48, 64, 3) and images.dtype == torch.float32
    assert close_to(frame_levels(images), [levels(20)[i] for i in want])
    assert info["loaded_fps"] == pytest.approx(10 / nth) and info["source_frame_count"] == 20
    # the same work as VHS_LoadVideo on the uploaded file
    same = run("VHS_LoadVideo", ctx, video="clip.mp4", format="None", skip_first_frames=skip,
               select_every_nth=nth, frame_load_cap=cap)
    assert torch.equal(same[0], images) and same[3] == info


def test_load_video_path_format_and_force_rate(ctx, clip):
    images, count, _, _ = run("VHS_LoadVideoPath", ctx, video="clip.mp4", format="Wan")
    assert count == 17 and images.shape[1:] == (48, 64, 3)  # 4n+1 frames, sides multiples of 8
    images, count, _, _ = run("VHS_LoadVideoPath", ctx, video="clip.mp4", format="None", force_rate=5)
    assert count == 10 and close_to(frame_levels(images), levels(20)[::2])


def test_load_video_path_forms_of_a_path_inside_the_folders(ctx, clip):
    (ctx.input_dir / "sub").mkdir()
    write_clip(ctx.input_dir / "sub" / "b.mp4", 5)
    write_clip(ctx.output_dir / "out.mp4", 6)
    for name, n in [(str(clip), 20), (f' "{clip}" ', 20), ("input/clip.mp4", 20), ("./sub/b.mp4", 5),
                    ("sub\\b.mp4", 5), (str(ctx.output_dir / "out.mp4"), 6), ("output/out.mp4", 6),
                    ("out.mp4 [output]", 6)]:
        _, count, _, _ = run("VHS_LoadVideoPath", ctx, video=name, format="None")
        assert count == n, name


@pytest.mark.parametrize("name,says", [
    ("../outside.mp4", "absolute paths and '..' are refused"),
    ("sub/../../outside.mp4", "absolute paths and '..' are refused"),
    ("OUTSIDE", "outside wfrun's folders"),
    ("INPUT/../outside.mp4", "outside wfrun's folders"),
    ("/etc/passwd", "outside wfrun's folders"),
    ("X://insert/path/here.mp4", "outside wfrun's folders"),
    ("C:\\videos\\a.mp4", "outside wfrun's folders"),
    ("link.mp4", "leads outside"),
    ("https://example.com/a.mp4", "URL"),
    ("http://127.0.0.1/a.mp4", "URL"),
    ("ftp://example.com/a.mp4", "URL"),
    ("missing.mp4", "not found"),
    ("", "empty"),
])
def test_load_video_path_refusals(ctx, clip, name, says):
    outside = write_clip(ctx.input_dir.parent / "outside.mp4", 3)
    (ctx.input_dir / "link.mp4").symlink_to(outside)
    (ctx.input_dir / "sub").mkdir()
    name = name.replace("OUTSIDE", str(outside)).replace("INPUT", str(ctx.input_dir))
    with pytest.raises(NodeInputError, match=says) as err:
        run("VHS_LoadVideoPath", ctx, video=name)
    assert err.value.input_name == "video" and err.value.hint and "input folder" in err.value.hint


def test_load_video_path_refuses_what_the_pack_would_batch_or_encode(ctx, clip):
    with pytest.raises(NodeInputError) as err:
        run("VHS_LoadVideoPath", ctx, video="clip.mp4", vae=object())
    assert err.value.input_name == "vae"
    with pytest.raises(NodeInputError) as err:
        run("VHS_LoadVideoPath", ctx, video=None)
    assert err.value.input_name == "video"


def test_declared_files_for_the_early_check_and_smoke(ctx):
    files = executor_info("VHS_LoadVideoPath").input_files
    assert files({"video": "a.mp4"}) == {"video": ("a.mp4", "video")}
    assert files({"video": '"input/a.mp4"'}) == {"video": ("a.mp4", "video")}
    assert files({"video": "output/x/a.mp4"}) == {"video": ("x/a.mp4 [output]", "video")}
    assert files({"video": "/abs/a.mp4"}) == {"video": (None, "video")}  # the executor decides
    assert files({"video": "https://e.com/a.mp4"})["video"][0] == "https://e.com/a.mp4"  # refused early
    assert executor_info("VHS_LoadImagePath").input_files({"image": "a.png"}) == {"image": ("a.png", "image")}
    # folders are declared as image folders (the early check resolves them as folders)
    for class_type in ("VHS_LoadImagesPath", "VHS_LoadImages"):
        folders = executor_info(class_type).input_files
        assert folders({"directory": "input/shots"}) == {"directory": ("shots", "image_folder")}
        assert folders({"directory": "/abs/shots"}) == {"directory": (None, "image_folder")}
    for class_type in ("VHS_LoadVideoPath", "VHS_LoadImagePath", "VHS_LoadImagesPath", "VHS_LoadImages"):
        assert executor_info(class_type).volatile


# ---------------------------------------------------------------------------- folders of images

def png(path, level, size=(8, 6), alpha=None):
    """A flat image at grey ``level`` (with a flat alpha when given)."""
    w, h = size
    if alpha is None:
        Image.fromarray(np.full((h, w, 3), level, np.uint8)).save(path)
    else:
        array = np.concatenate([np.full((h, w, 3), level, np.uint8), np.full((h, w, 1), alpha, np.uint8)], axis=2)
        Image.fromarray(array, "RGBA").save(path)


NAMES = ["img10.png", "img2.png", "a.PNG", "b.jpeg", "c.webp", "Z.bmp", "img1.png", "d.tif"]


@pytest.fixture
def folder(ctx):
    """Images with distinct grey levels by name, plus files the pack skips."""
    where = ctx.input_dir / "frames"
    where.mkdir()
    for i, name in enumerate(NAMES):
        level = 20 + 25 * i
        if name.endswith(".jpeg"):
            Image.fromarray(np.full((6, 8, 3), level, np.uint8)).save(where / name, quality=100)
        else:
            png(where / name, level) if name.endswith(".png") or name.endswith(".PNG") else \
                Image.fromarray(np.full((6, 8, 3), level, np.uint8)).save(where / name)
    (where / "notes.txt").write_text("not an image")
    (where / "noext").write_bytes((where / "img1.png").read_bytes())
    (where / "dir.png").mkdir()  # a folder with an image's name is not a file
    return where


def level_of(name):
    return 20 + 25 * NAMES.index(name)


def pack_files(skip, nth, cap):
    """The pack's choice re-derived: Python's sorted names, image extensions, skip, n-th, cap."""
    names = [n for n in sorted(NAMES) if "." + n.split(".")[-1].lower() in PACK_EXTENSIONS]
    names = names[skip:][::nth]
    return names[:cap] if cap else names


@pytest.mark.parametrize("skip,nth,cap", [(0, 1, 0), (1, 2, 0), (2, 1, 3), (0, 3, 2), (7, 1, 0)])
def test_load_images_path_sorts_and_selects_as_the_pack(ctx, folder, skip, nth, cap):
    images, masks, count = run("VHS_LoadImagesPath", ctx, directory="frames", skip_first_images=skip,
                               select_every_nth=nth, image_load_cap=cap)
    want = pack_files(skip, nth, cap)
    assert count == len(want) == images.shape[0] and images.shape[1:] == (6, 8, 3)
    assert images.dtype == torch.float32
    assert close_to(frame_levels(images), [level_of(n) for n in want], tol=1)
    assert masks.shape == (count, 64, 64) and not masks.any()
    # the upload node reads the same folder, as a sub-folder of the input folder
    same = run("VHS_LoadImages", ctx, directory="frames", skip_first_images=skip, select_every_nth=nth,
               image_load_cap=cap)
    assert torch.equal(same[0], images) and same[2] == count


def test_load_images_path_sorted_by_code_point():
    assert pack_files(0, 1, 0)[:3] == ["Z.bmp", "a.PNG", "b.jpeg"]  # capitals first, as Python's sorted


def test_load_images_most_common_size_and_alpha_mask(ctx):
    where = ctx.input_dir / "mixed"
    where.mkdir()
    png(where / "0.png", 100, (8, 6))
    png(where / "1.png", 150, (16, 8), alpha=64)
    png(where / "2.png", 200, (16, 8))
    png(where / "3.png", 50, (8, 6))
    images, masks, count = run("VHS_LoadImagesPath", ctx, directory=str(where))
    # sizes (8,6) and (16,8) tie at two each: the first seen wins; all are resized to it
    assert count == 4 and images.shape == (4, 6, 8, 3) and masks.shape == (4, 6, 8)
    assert close_to(frame_levels(images), [100, 150, 200, 50], tol=1)
    # one image has alpha: all are RGBA, mask = 1 - alpha (opaque images: 0)
    assert torch.allclose(masks[1], torch.full((6, 8), 1 - 64 / 255), atol=2 / 255)
    assert not masks[0].any() and not masks[2].any() and not masks[3].any()


@pytest.mark.parametrize("name,says", [
    ("../frames", "absolute paths and '..' are refused"),
    ("/tmp", "outside wfrun's folders"),
    ("OUTSIDE", "outside wfrun's folders"),
    ("linked", "leads outside"),
    ("https://example.com/frames/", "URL"),
    ("nowhere", "cannot be found"),
    ("empty", "no image files"),
])
def test_load_images_path_refusals(ctx, folder, name, says):
    outside = ctx.input_dir.parent / "elsewhere"
    outside.mkdir()
    png(outside / "x.png", 10)
    (ctx.input_dir / "linked").symlink_to(outside)
    (ctx.input_dir / "empty").mkdir()
    name = str(outside) if name == "OUTSIDE" else name
    with pytest.raises(NodeInputError, match=says) as err:
        run("VHS_LoadImagesPath", ctx, directory=name)
    assert err.value.input_name == "directory"


def test_load_images_refuses_a_file_link_leading_out(ctx, folder):
    secret = ctx.input_dir.parent / "secret.png"
    png(secret, 10)
    (folder / "zz.png").symlink_to(secret)
    with pytest.raises(NodeInputError, match="link leading outside") as err:
        run("VHS_LoadImagesPath", ctx, directory="frames")
    assert err.value.input_name == "directory"


def test_load_images_upload_node_stays_in_the_input_folder(ctx, folder):
    for name in ("../frames", str(folder), "missing"):
        with pytest.raises(NodeInputError) as err:
            run("VHS_LoadImages", ctx, directory=name)
        assert err.value.input_name == "directory"
    with pytest.raises(NodeInputError) as err:
        run("VHS_LoadImages", ctx, directory="frames", meta_batch=object())
    assert err.value.input_name == "meta_batch"


# ---------------------------------------------------------------------------- VHS_LoadImagePath

def test_load_image_path_rgb_and_rgba(ctx):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(ctx.input_dir / "a.png")
    image, mask = run("VHS_LoadImagePath", ctx, image="a.png")
    assert image.shape == (1, 6, 8, 3) and torch.equal(image[0], torch.from_numpy(rgb.astype(np.float32) / 255))
    assert mask.shape == (1, 64, 64) and not mask.any()
    rgba = rng.integers(0, 256, (6, 8, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(ctx.output_dir / "b.png")
    image, mask = run("VHS_LoadImagePath", ctx, image=str(ctx.output_dir / "b.png"))
    assert torch.equal(image[0], torch.from_numpy(rgba[..., :3].astype(np.float32) / 255))
    assert torch.allclose(mask[0], 1 - torch.from_numpy(rgba[..., 3].astype(np.float32) / 255))


def test_load_image_path_sizes(ctx):
    png(ctx.input_dir / "a.png", 90, (40, 20))
    image, _ = run("VHS_LoadImagePath", ctx, image="a.png", custom_width=20)
    assert image.shape == (1, 10, 20, 3)  # the other side follows the aspect; no rounding (no format)
    image, _ = run("VHS_LoadImagePath", ctx, image="a.png", custom_width=16, custom_height=16)
    assert image.shape == (1, 16, 16, 3) and close_to(frame_levels(image), [90], tol=1)
    # a save from before 2025-01-30: force_size, sizes rounded to 8 as VHS's older code did
    image, _ = run("VHS_LoadImagePath", ctx, image="a.png", force_size="Custom Height", custom_height=12)
    assert image.shape == (1, 16, 24, 3)  # 12 → 16, 24 stays
    image, _ = run("VHS_LoadImagePath", ctx, image="a.png", force_size="Disabled", custom_width=512)
    assert image.shape == (1, 20, 40, 3)


@pytest.mark.parametrize("name,says", [
    ("../a.png", "absolute paths and '..' are refused"),
    ("/etc/hostname", "outside wfrun's folders"),
    ("https://example.com/a.png", "URL"),
    ("missing.png", "not found"),
    ("bad.png", "not an image"),
    ("input", "names a folder"),
])
def test_load_image_path_refusals(ctx, name, says):
    png(ctx.input_dir.parent / "a.png", 10)
    (ctx.input_dir / "bad.png").write_text("not a picture")
    with pytest.raises(NodeInputError, match=says) as err:
        run("VHS_LoadImagePath", ctx, image=name)
    assert err.value.input_name == "image"


# ---------------------------------------------------------------------------- the ffmpeg loaders

@pytest.mark.parametrize("class_type", ["VHS_LoadVideoFFmpegPath", "VHS_LoadVideoFFmpeg"])
def test_load_video_ffmpeg_start_time_cap_and_info(ctx, clip, class_type):
    images, mask, audio, info = run(class_type, ctx, video="clip.mp4", format="None")
    assert images.shape == (20, 48, 64, 3) and images.dtype == torch.float32 and audio is None
    assert close_to(frame_levels(images), levels(20))
    assert mask.shape == (20, 64, 64) and not mask.any()
    assert info["source_fps"] == 10 and info["source_duration"] == pytest.approx(2.0)
    assert info["source_frame_count"] == pytest.approx(20) and info["loaded_frame_count"] == 20
    # start_time in seconds: at 10 fps, 0.5 s is frame 5; the cap counts from there
    images, _, _, info = run(class_type, ctx, video="clip.mp4", format="None", start_time=0.5, frame_load_cap=4)
    assert close_to(frame_levels(images), levels(20)[5:9])
    assert info["loaded_frame_count"] == 4 and info["loaded_duration"] == pytest.approx(0.4)


def test_load_video_ffmpeg_rate_size_and_format(ctx, clip):
    images, _, _, info = run("VHS_LoadVideoFFmpegPath", ctx, video="clip.mp4", format="None", force_rate=5)
    assert len(images) == 10 and info["loaded_fps"] == 5  # 2 s at 5 fps
    got = frame_levels(images)
    assert got == sorted(got) and all(close_to([g], [min(levels(20), key=lambda v: abs(v - g))]) for g in got)
    # a custom size is rounded to the format's multiple (AnimateDiff: 8), the other side by aspect
    images, _, _, info = run("VHS_LoadVideoFFmpegPath", ctx, video="clip.mp4", format="AnimateDiff", custom_width=30)
    assert images.shape[1:] == (24, 32, 3) and (info["loaded_width"], info["loaded_height"]) == (32, 24)
    images, _, _, _ = run("VHS_LoadVideoFFmpegPath", ctx, video="clip.mp4", format="None", custom_width=16,
                          custom_height=16)
    assert images.shape[1:] == (16, 16, 3) and close_to(frame_levels(images), levels(20))
    images, _, _, _ = run("VHS_LoadVideoFFmpegPath", ctx, video="clip.mp4", format="Wan")
    assert len(images) == 17  # 4n+1
    with pytest.raises(NodeInputError) as err:
        run("VHS_LoadVideoFFmpegPath", ctx, video="clip.mp4", start_time=5)
    assert err.value.input_name == "start_time"


def test_load_video_ffmpeg_alpha_mask(ctx):
    rgba = np.zeros((4, 16, 16, 4), np.uint8)
    rgba[..., :3] = 120
    rgba[..., 3] = np.array([255, 200, 100, 0], np.uint8)[:, None, None]
    path = ctx.input_dir / "a.webm"
    mv.encode((f.tobytes() for f in rgba), path, width=16, height=16, frame_rate=8, input_pix_fmt="rgba",
              output_args=["-n", "-c:v", "libvpx-vp9", "-pix_fmt", "yuva420p", "-lossless", "1"])
    images, mask, _, _ = run("VHS_LoadVideoFFmpegPath", ctx, video="a.webm", format="None")
    if mask.shape[1:] == (64, 64):
        pytest.fail("the stream's alpha was not detected")
    assert images.shape == (4, 16, 16, 3) and mask.shape == (4, 16, 16)
    assert close_to([round(float(m.mean()) * 255) for m in mask], [0, 55, 155, 255], tol=4)


@pytest.mark.parametrize("name,says", [("../outside.mp4", "'..' are refused"), ("/etc/passwd", "outside wfrun"),
                                       ("https://example.com/a.mp4", "URL"), ("missing.mp4", "not found")])
def test_load_video_ffmpeg_path_refusals(ctx, clip, name, says):
    write_clip(ctx.input_dir.parent / "outside.mp4", 3)
    with pytest.raises(NodeInputError, match=says) as err:
        run("VHS_LoadVideoFFmpegPath", ctx, video=name)
    assert err.value.input_name == "video"
    with pytest.raises(NodeInputError) as err:
        run("VHS_LoadVideoFFmpeg", ctx, video=name)
    assert err.value.input_name == "video"


@pytest.mark.parametrize("class_type, directory", [("VHS_LoadImagesPath", "input/shots"),
                                                   ("VHS_LoadImages", "shots"),
                                                   ("LoadImageListFromDir //Inspire", "shots")])
def test_a_declared_folder_passes_the_early_check_and_a_missing_one_is_named(tmp_path, class_type, directory):
    """The run's early check resolves declared *folders* as folders (it looked them up as
    files, so an existing folder was reported missing, the Inspire loaders' too)."""
    import json

    from wfrun.jobs.run import JobError, RunOptions, prepare

    (tmp_path / "input" / "shots").mkdir(parents=True)
    for i in range(3):
        png(tmp_path / "input" / "shots" / f"{i}.png", 10 * i)
    inputs = {"directory": directory, "image_load_cap": 0}
    if class_type.startswith("VHS"):
        inputs.update(skip_first_images=0, select_every_nth=1)
    prompt = {"1": {"class_type": class_type, "inputs": inputs},
              "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}}
    path = tmp_path / "w.json"
    path.write_text(json.dumps(prompt))
    options = RunOptions(output_dir=tmp_path / "out", input_dir=tmp_path / "input", device="cpu")
    prepare(path, options)  # no problem reported
    prompt["1"]["inputs"]["directory"] = directory.replace("shots", "missing")
    path.write_text(json.dumps(prompt))
    with pytest.raises(JobError) as err:
        prepare(path, options)
    assert [d.input for d in err.value.diagnostics if d.code == "missing-input-file"] == ["directory"]


def test_smoke_stands_in_a_folder_with_the_images_the_selection_takes(tmp_path, monkeypatch):
    import json

    from wfrun.jobs.run import RunOptions, run_file

    monkeypatch.setenv("WFRUN_CACHE", str(tmp_path / "cache"))
    prompt = {"1": {"class_type": "VHS_LoadImagesPath",
                    "inputs": {"directory": "input/frames", "image_load_cap": 3, "skip_first_images": 2,
                               "select_every_nth": 2}},
              "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "s"}}}
    path = tmp_path / "w.json"
    path.write_text(json.dumps(prompt))
    report = run_file(path, RunOptions(output_dir=tmp_path / "out", input_dir=tmp_path / "input", device="cpu",
                                       smoke=True))
    # 2 skipped, then images 2, 4, 6: 7 drawn
    assert any("a stand-in folder of 7 images" in line for line in report.prepared.standins), \
        report.prepared.standins
    assert report.result is not None and len(report.result.written) == 3
