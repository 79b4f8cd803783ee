"""Workflows read from images and videos, in the byte layouts their writers use.

Each file is made here the way its writer makes it (ComfyUI's Save Image, Save Animated
PNG/WEBP and Save Video, VideoHelperSuite's Video Combine and its first-frame PNG, and
wfrun's own writers), and the workflow read back must be the very JSON value that was
embedded. The CLI commands then take these files as they take JSON.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from wfrun.cli import main
from wfrun.formats import FormatError, load, read_workflow
from wfrun.formats.ffmeta import ffmpeg_exe, parse_ffmetadata
from wfrun.media import image as media_image
from wfrun.media import video as media_video

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "workflows" / "wan_t2v_tiny.json"
WORKFLOW = json.loads(DEMO.read_text(encoding="utf-8"))
PROMPT = {"1": {"class_type": "LoadImage", "inputs": {"image": "a.png", "upload": "image"},
                "_meta": {"title": "Load Image ✓"}}}


def cli(*args: object):
    """Invoke the CLI in-process; a Python exception (a traceback for a user) fails the test."""
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result


# ---------------------------------------------------------------------------- writers, as the packs write

def frames(n: int = 3) -> list[Image.Image]:
    return [Image.new("RGB", (32, 32), (40 * i, 90, 200)) for i in range(n)]


def comfy_save_image(path: Path, prompt=PROMPT, workflow=WORKFLOW, extra: dict | None = None) -> Path:
    """ComfyUI's Save Image: a tEXt chunk ``prompt`` and one per extra_pnginfo key, all json.dumps."""
    info = PngInfo()
    if prompt is not None:
        info.add_text("prompt", json.dumps(prompt))
    for key, value in ({"workflow": workflow} if workflow is not None else {}).items():
        info.add_text(key, json.dumps(value))
    for key, value in (extra or {}).items():
        info.add_text(key, value)
    frames(1)[0].save(path, format="PNG", pnginfo=info, compress_level=4)
    return path


def comfy_save_animated_png(path: Path) -> Path:
    """ComfyUI's Save Animated PNG: private ``comf`` chunks ``key\\0json`` after the image data."""
    info = PngInfo()
    info.add(b"comf", b"prompt\0" + json.dumps(PROMPT).encode("latin-1"), after_idat=True)
    info.add(b"comf", b"workflow\0" + json.dumps(WORKFLOW).encode("latin-1"), after_idat=True)
    first, *rest = frames(3)
    first.save(path, pnginfo=info, compress_level=4, save_all=True, duration=125, append_images=rest)
    return path


def comfy_save_animated_webp(path: Path, workflow=True) -> Path:
    """ComfyUI's Save Animated WEBP: EXIF 0x0110 ``prompt:json``, extra keys from 0x010F down."""
    first, *rest = frames(3)
    exif = first.getexif()
    exif[0x0110] = "prompt:{}".format(json.dumps(PROMPT))
    if workflow:
        exif[0x010F] = "workflow:{}".format(json.dumps(WORKFLOW))
    first.save(path, save_all=True, duration=125, append_images=rest, exif=exif, lossless=True, quality=80,
               method=4)
    return path


def ffmpeg_video(path: Path, metadata_file: Path | None, args: list[str]) -> Path:
    """A 3-frame video; ``metadata_file`` comes first, so ffmpeg takes its tags, as in VHS."""
    inputs = ["-i", str(metadata_file)] if metadata_file else []
    subprocess.run([ffmpeg_exe(), "-v", "error", "-n", *inputs, "-f", "lavfi", "-i",
                    "color=c=blue:s=32x32:r=8:d=0.375", *args, str(path)], check=True, capture_output=True)
    return path


def escape(text: str) -> str:
    """FFMETADATA escaping as VideoHelperSuite writes it (backslash first)."""
    for old, new in (("\\", "\\\\"), (";", "\\;"), ("#", "\\#"), ("=", "\\="), ("\n", "\\\n")):
        text = text.replace(old, new)
    return text


def vhs_video_combine(path: Path, args: list[str]) -> Path:
    """VideoHelperSuite's Video Combine with save_metadata: one ``comment`` tag holding
    ``{"prompt": <json text>, "workflow": <object>}``, no newline at the end of the file."""
    meta = path.with_name("metadata.txt")
    video_metadata = {"prompt": json.dumps(PROMPT), "workflow": WORKFLOW}
    meta.write_text(";FFMETADATA1\n" + "comment=" + escape(json.dumps(video_metadata)), encoding="utf-8")
    return ffmpeg_video(path, meta, args)


def comfy_save_video(path: Path, args: list[str]) -> Path:
    """ComfyUI's Save Video / Save WEBM (PyAV): a tag per entry, each json.dumps."""
    meta = path.with_name("tags.txt")
    meta.write_text(";FFMETADATA1\n" + "".join(f"{key}={escape(json.dumps(value))}\n" for key, value in
                                              (("prompt", PROMPT), ("workflow", WORKFLOW))), encoding="utf-8")
    return ffmpeg_video(path, meta, args)


H264 = ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "use_metadata_tags"]
VP9 = ["-c:v", "libvpx-vp9", "-b:v", "0", "-crf", "40", "-deadline", "realtime"]


# ---------------------------------------------------------------------------- images

def test_comfyui_save_image_png_gives_the_ui_workflow_over_the_prompt(tmp_path):
    loaded = read_workflow(comfy_save_image(tmp_path / "ComfyUI_00001_.png"))
    assert loaded.data == WORKFLOW and loaded.container == "png"
    assert "tEXt" in loaded.origin and "workflow" in loaded.origin


def test_png_with_only_the_api_prompt_gives_the_prompt(tmp_path):
    doc = load(comfy_save_image(tmp_path / "api.png", workflow=None))
    assert doc.kind == "api" and doc.dump() == PROMPT


def test_vhs_first_frame_png_with_its_creation_time(tmp_path):
    path = comfy_save_image(tmp_path / "AnimateDiff_00001.png", extra={"CreationTime": "2025-05-01 12:00:00"})
    assert read_workflow(path).data == WORKFLOW


def test_comfyui_save_animated_png_comf_chunks_after_the_image_data(tmp_path):
    loaded = read_workflow(comfy_save_animated_png(tmp_path / "anim.png"))
    assert loaded.data == WORKFLOW and "comf" in loaded.origin


def test_compressed_itxt_and_ztxt_chunks(tmp_path):
    info = PngInfo()
    info.add_itxt("workflow", json.dumps(WORKFLOW), zip=True)
    frames(1)[0].save(tmp_path / "i.png", pnginfo=info)
    assert read_workflow(tmp_path / "i.png").data == WORKFLOW
    info = PngInfo()
    info.add_text("prompt", json.dumps(PROMPT), zip=True)
    frames(1)[0].save(tmp_path / "z.png", pnginfo=info)
    assert read_workflow(tmp_path / "z.png").data == PROMPT


def test_comfyui_save_animated_webp_exif(tmp_path):
    loaded = read_workflow(comfy_save_animated_webp(tmp_path / "anim.webp"))
    assert loaded.data == WORKFLOW and "0x010F" in loaded.origin
    only_prompt = read_workflow(comfy_save_animated_webp(tmp_path / "p.webp", workflow=False))
    assert only_prompt.data == PROMPT and "0x0110" in only_prompt.origin


def test_detected_by_content_not_by_name(tmp_path):
    disguised = comfy_save_image(tmp_path / "workflow.json")
    assert read_workflow(disguised).data == WORKFLOW
    json_named_png = tmp_path / "really_json.png"
    json_named_png.write_text(json.dumps(PROMPT), encoding="utf-8")
    assert read_workflow(json_named_png).data == PROMPT


def test_wfrun_write_png_round_trips(tmp_path):
    path = media_image.write_png(tmp_path / "out.png", np.zeros((8, 8, 3), np.uint8),
                                 media_image.workflow_metadata(WORKFLOW, PROMPT))
    assert read_workflow(path).data == WORKFLOW


# ---------------------------------------------------------------------------- videos

@pytest.mark.parametrize("name,args", [("vhs.mp4", H264), ("vhs.webm", VP9), ("vhs.mov", H264)])
def test_vhs_video_combine_comment(tmp_path, name, args):
    loaded = read_workflow(vhs_video_combine(tmp_path / name, args))
    assert loaded.data == WORKFLOW and "comment" in loaded.origin


@pytest.mark.parametrize("name,args", [("save.mp4", H264), ("save.webm", VP9)])
def test_comfyui_save_video_tags(tmp_path, name, args):
    loaded = read_workflow(comfy_save_video(tmp_path / name, args))
    assert loaded.data == WORKFLOW and "tag" in loaded.origin.lower()


def test_wfrun_video_writer_round_trips(tmp_path):
    path = tmp_path / "wfrun_00001.mp4"
    media_video.encode(media_video.frames_to_bytes(np.full((3, 32, 32, 3), 0.5, np.float32)), path, width=32,
                       height=32, frame_rate=8, output_args=["-n", "-c:v", "libx264", "-pix_fmt", "yuv420p"],
                       metadata=media_image.workflow_metadata(WORKFLOW, PROMPT))
    assert read_workflow(path).data == WORKFLOW


def test_ffmetadata_parser_reads_what_wfrun_and_vhs_escape():
    tricky = {"workflow": {"title": "x=1; y#2 \\ z"}, "prompt": "a\nb"}
    document = media_video.ffmetadata_document(tricky)  # wfrun's writer: values as JSON
    assert parse_ffmetadata(document) == {k: json.dumps(v) for k, v in tricky.items()}
    vhs = ";FFMETADATA1\ncomment=" + escape(json.dumps(tricky))  # no final newline, as VHS writes
    assert json.loads(parse_ffmetadata(vhs)["comment"]) == tricky
    raw = ";FFMETADATA1\n" + escape("k=ey") + "=" + escape("line 1\nline 2;#\\") + "\n;comment\ntitle=t\n"
    assert parse_ffmetadata(raw) == {"k=ey": "line 1\nline 2;#\\", "title": "t"}
    assert parse_ffmetadata(";FFMETADATA1\ntitle=t\n[STREAM]\nworkflow=no\n") == {"title": "t"}


# ---------------------------------------------------------------------------- no workflow, damaged files

def test_media_without_a_workflow_says_so(tmp_path):
    frames(1)[0].save(tmp_path / "plain.png")
    first, *rest = frames(3)
    first.save(tmp_path / "plain.gif", save_all=True, append_images=rest)
    first.save(tmp_path / "plain.webp", save_all=True, append_images=rest)
    ffmpeg_video(tmp_path / "plain.mp4", None, H264)
    for name, label in (("plain.png", "PNG"), ("plain.gif", "GIF"), ("plain.webp", "WebP"), ("plain.mp4", "MP4")):
        result = cli("validate", tmp_path / name)
        assert result.exit_code == 1
        assert f"{tmp_path / name}: error[no-workflow]: this {label}" in result.output
        assert "holds no ComfyUI workflow" in result.output


def test_video_without_a_workflow_points_to_the_vhs_png_beside_it(tmp_path):
    video = ffmpeg_video(tmp_path / "AnimateDiff_00001.mp4", None, H264)
    comfy_save_image(tmp_path / "AnimateDiff_00001.png")
    result = cli("graph", video)
    assert result.exit_code == 1 and f"try {tmp_path / 'AnimateDiff_00001.png'}" in result.output
    assert cli("graph", tmp_path / "AnimateDiff_00001.png").exit_code == 0


def test_truncated_png_and_mp4(tmp_path):
    whole = comfy_save_image(tmp_path / "whole.png", prompt=None).read_bytes()
    start = whole.index(b"tEXtworkflow")
    (tmp_path / "cut.png").write_bytes(whole[:start + 200])  # cut inside the workflow chunk
    result = cli("validate", tmp_path / "cut.png")
    assert result.exit_code == 1 and "error[bad-media]" in result.output and "truncated" in result.output
    video = vhs_video_combine(tmp_path / "v.mp4", H264).read_bytes()
    (tmp_path / "cut.mp4").write_bytes(video[:len(video) // 3])
    result = cli("run", tmp_path / "cut.mp4", "--dry-run")
    assert result.exit_code == 1 and str(tmp_path / "cut.mp4") in result.output and "truncated" in result.output


def test_damaged_workflow_entry_falls_back_to_the_prompt_with_a_warning(tmp_path):
    path = comfy_save_image(tmp_path / "half.png", workflow=None, extra={"workflow": '{"nodes": ['})
    assert read_workflow(path).data == PROMPT
    result = cli("validate", path)
    assert "warning[invalid-json]" in result.output and "'prompt' was read instead" in result.output


def test_embedded_text_over_the_limit_is_not_read(tmp_path, monkeypatch):
    from wfrun.formats import png

    monkeypatch.setattr(png, "MAX_JSON_BYTES", 1000)
    path = comfy_save_image(tmp_path / "big.png", prompt=None)
    with pytest.raises(FormatError) as err:
        read_workflow(path)
    assert err.value.problems[0].code == "too-large" and "not read" in str(err.value)


def test_hostile_json_inside_a_png_is_refused_like_in_a_file(tmp_path):
    path = comfy_save_image(tmp_path / "deep.png", prompt=None, workflow=None,
                            extra={"workflow": "[" * 5000 + "]" * 5000})
    result = cli("validate", path)
    assert result.exit_code == 1 and "error[too-deep]" in result.output and "PNG tEXt chunk 'workflow'" in result.output


# ---------------------------------------------------------------------------- the commands

def test_commands_take_media_like_json(tmp_path):
    png = comfy_save_image(tmp_path / "clip.png")
    video = vhs_video_combine(tmp_path / "clip.mp4", H264)
    for path in (png, video):
        assert cli("convert", path, "--to", "api").stdout == cli("convert", DEMO, "--to", "api").stdout
        assert cli("graph", path).stdout.splitlines()[1:] == cli("graph", DEMO).stdout.splitlines()[1:]
        validated = cli("validate", path)
        assert validated.exit_code == cli("validate", DEMO).exit_code


def test_run_dry_run_from_a_png(tmp_path, tiny_models):
    png = comfy_save_image(tmp_path / "clip.png")
    shutil.copytree(ROOT / "workflows" / "input", tmp_path / "input")
    shutil.copy(DEMO, tmp_path / "clip_as.json")
    result = cli("run", png, "--models", tiny_models, "--dry-run", "--format", "json")
    assert result.exit_code == 0, result.output
    reference = cli("run", tmp_path / "clip_as.json", "--models", tiny_models, "--dry-run", "--format", "json")
    report, expected = json.loads(result.stdout), json.loads(reference.stdout)
    assert report["plan"] == expected["plan"] and report["models"] == expected["models"]
    assert any(n["type"] == "WanVideoSampler" for n in report["plan"]["order"])


def test_migrate_a_media_file_writes_json_beside_it_and_never_the_media(tmp_path):
    old = ROOT.parent / "shared" / "corpus" / "wanvideowrapper" / "2025-03-28_6334dfa_wanvideo_Fun_control_example_01.json"
    workflow = json.loads(old.read_text(encoding="utf-8"))
    png = comfy_save_image(tmp_path / "clip.png", workflow=workflow)
    before = png.read_bytes()
    expected = cli("migrate", old).stdout  # the same workflow as a JSON file: the reference

    assert json.loads(cli("migrate", png).stdout) == json.loads(expected)  # stdout, as for JSON
    first = cli("migrate", png, "--in-place")
    assert first.exit_code == 0 and "never rewrites" in first.output
    assert json.loads((tmp_path / "clip.json").read_text(encoding="utf-8")) == json.loads(expected)
    second = cli("migrate", png, "--in-place")  # clip.json is taken: the next free name
    assert second.exit_code == 0 and (tmp_path / "clip.1.json").read_text() == (tmp_path / "clip.json").read_text()
    assert png.read_bytes() == before and not (tmp_path / "clip.png.bak").exists()
    diff = cli("migrate", png, "--check", "--diff")
    assert diff.exit_code == 1 and diff.stdout.startswith("---")
    assert cli("migrate", png, "-o", tmp_path / "clip.json").exit_code == 2  # never overwrites


def test_media_with_no_workflow_in_every_command(tmp_path):
    frames(1)[0].save(tmp_path / "plain.png")
    for command in (["validate"], ["graph"], ["convert", "--to", "api"], ["migrate"], ["run", "--dry-run"]):
        result = cli(command[0], tmp_path / "plain.png", *command[1:])
        assert result.exit_code == 1, (command, result.output)
        assert "plain.png" in result.output and "holds no ComfyUI workflow" in result.output
