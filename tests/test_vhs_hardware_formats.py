"""VHS's NVENC formats: written with VHS's arguments where NVIDIA's encoder starts, refused
before anything loads where it does not, and written as their software twin under --smoke.

The arguments are checked against VHS's format files (``video_formats/nvenc_*.json`` and the
bitrate rule of ``VideoCombine``), written out here by hand. Whether NVENC starts is the
machine's business: the tests that need an answer set it (``encoder_problem``), the probe
itself is checked on encoders every ffmpeg build has or lacks."""

from __future__ import annotations

import json
import subprocess

import pytest
import torch
from click.testing import CliRunner

from node_helpers import node
from wfrun.cli import main
from wfrun.jobs.run import JobError, RunOptions, prepare
from wfrun.media import video as mv
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.vhs import formats as vhs_formats
from wfrun.packs.vhs import video_nodes

BT709 = ["-vf", "scale=out_color_matrix=bt709", "-color_range", "tv", "-colorspace", "bt709",
         "-color_primaries", "bt709", "-color_trc", "bt709"]
NO_NVENC = "Cannot load libcuda.so.1"


def prompt(fmt: str = "video/nvenc_hevc-mp4", **widgets) -> dict:
    combine = {"images": ["1", 0], "frame_rate": 8, "loop_count": 0, "filename_prefix": "nv", "format": fmt,
               "pingpong": False, "save_output": True, "pix_fmt": "p010le", "bitrate": 5, "megabit": True,
               "save_metadata": True, **widgets}
    return {"1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 48, "batch_size": 3, "color": 255}},
            "2": {"class_type": "VHS_VideoCombine", "inputs": combine}}


@pytest.fixture
def without_nvenc(monkeypatch):
    """A machine whose ffmpeg cannot open NVIDIA's encoders (CI; compute GPUs), whatever this one is."""
    def problem(name: str) -> str | None:
        return NO_NVENC if name.endswith("_nvenc") else None
    monkeypatch.setattr(mv, "encoder_problem", problem)
    monkeypatch.setattr(video_nodes, "encoder_problem", problem)


def test_nvenc_arguments_are_vhs_format_files_then_the_bitrate():
    build = {name: vhs_formats.FORMATS[name] for name in ("nvenc_h264-mp4", "nvenc_hevc-mp4", "nvenc_av1-mp4")}
    values = build["nvenc_h264-mp4"].values({})
    assert values == {"pix_fmt": "yuv420p", "bitrate": 10, "megabit": True, "save_metadata": True}
    assert build["nvenc_h264-mp4"].build(values) == [
        "-n", "-c:v", "h264_nvenc", "-pix_fmt", "yuv420p", *BT709, "-b:v", "10M"]
    hevc = build["nvenc_hevc-mp4"].build({"pix_fmt": "p010le", "bitrate": 25, "megabit": False})
    assert hevc == ["-n", "-c:v", "hevc_nvenc", "-vtag", "hvc1", "-pix_fmt", "p010le", *BT709,
                    "-movflags", "+faststart+write_colr", "-b:v", "25K"]
    av1 = build["nvenc_av1-mp4"].build({"pix_fmt": "yuv420p", "bitrate": 3, "megabit": "True"})
    assert av1 == ["-n", "-c:v", "av1_nvenc", "-pix_fmt", "yuv420p", *BT709,
                   "-movflags", "+faststart+write_colr", "-b:v", "3M"]
    assert {f.extension for f in build.values()} == {"mp4"}
    with pytest.raises(ValueError, match="pix_fmt"):
        build["nvenc_h264-mp4"].values({"pix_fmt": "yuv444p"})


def test_software_twins_keep_the_codec_family_and_bit_depth():
    inputs = {"format": "video/nvenc_hevc-mp4", "format.pix_fmt": "p010le", "format.bitrate": 8,
              "format.megabit": True, "format.save_metadata": False, "frame_rate": 8}
    out, twin = vhs_formats.software_twin_inputs(inputs)
    assert twin == "video/h265-mp4"
    assert out == {"format": "video/h265-mp4", "format.pix_fmt": "yuv420p10le", "format.save_metadata": False,
                   "frame_rate": 8}
    assert vhs_formats.software_twin_inputs({"format": "video/nvenc_h264-mp4", "pix_fmt": "yuv420p"})[1] \
        == "video/h264-mp4"
    assert vhs_formats.software_twin_inputs({"format": "video/nvenc_av1-mp4"})[1] == "video/av1-webm"
    assert vhs_formats.software_twin_inputs({"format": "video/h264-mp4"}) is None
    assert vhs_formats.software_twin_inputs({"format": "image/gif"}) is None


def test_the_probe_answers_from_ffmpeg_itself(monkeypatch):
    mv.encoder_problem.cache_clear()
    assert mv.encoder_problem("libx264") is None  # every build wfrun ships encodes with it
    assert mv.encoder_problem("no_such_encoder") == "this ffmpeg build has no no_such_encoder encoder"
    mv.encoder_problem.cache_clear()
    stderr = (b"[h264_nvenc @ 0x55b0] Cannot load libcuda.so.1\n"
              b"[vost#0:0/h264_nvenc @ 0x55b0] [enc:h264_nvenc @ 0x55b0] Error while opening encoder\n")
    real_run = subprocess.run

    def fake_run(cmd, *args, **kwargs):
        if "-encoders" in cmd:
            return real_run(cmd, *args, **kwargs)
        assert cmd[cmd.index("-c:v") + 1] == "h264_nvenc" and cmd[-3:] == ["-f", "null", "-"]
        return subprocess.CompletedProcess(cmd, 255, b"", stderr)

    monkeypatch.setattr(mv.subprocess, "run", fake_run)
    try:
        assert mv.encoder_problem("h264_nvenc") == NO_NVENC
    finally:
        mv.encoder_problem.cache_clear()


def test_the_writer_refuses_a_format_whose_encoder_does_not_start(tmp_path, without_nvenc):
    ctx = ExecContext(output_dir=tmp_path / "out", workflow_json={"nodes": [], "links": []})
    frames = torch.rand(2, 16, 16, 3)
    with pytest.raises(NodeInputError) as err:
        node("VHS_VideoCombine")(ctx, images=frames, frame_rate=8, loop_count=0, filename_prefix="x",
                                 format="video/nvenc_h264-mp4", pingpong=False, save_output=True)
    assert err.value.input_name == "format" and NO_NVENC in str(err.value) and "h264-mp4" in str(err.value)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_run_is_refused_before_loading_and_told_the_twin(tmp_path, without_nvenc):
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(prompt()))
    with pytest.raises(JobError) as err:
        prepare(path, RunOptions(output_dir=tmp_path / "out", tiny_models=True))
    (diag,) = err.value.diagnostics
    assert (diag.code, diag.node_id, diag.input) == ("missing-encoder", "2", "format")
    assert NO_NVENC in diag.message
    assert diag.hint.endswith("--set 2.format=video/h265-mp4 --set 2.pix_fmt=yuv420p10le")
    # the hint, followed, runs: the format's own widgets are taken by --set too
    result = CliRunner().invoke(main, ["run", str(path), "-o", str(tmp_path / "out"), "--device", "cpu",
                                       "--set", "2.format=video/h265-mp4", "--set", "2.pix_fmt=yuv420p10le"])
    assert result.exit_code == 0, result.output
    (video,) = (tmp_path / "out").glob("nv_*.mp4")
    info = mv.probe(video)
    assert info.frame_count == 3 and (info.width, info.height) == (64, 48)


def test_smoke_writes_the_software_twin_and_says_so(tmp_path, without_nvenc):
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(prompt()))
    result = CliRunner().invoke(main, ["run", str(path), "--smoke", "-o", str(tmp_path / "out"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "format = 'video/h265-mp4' (--smoke, was 'video/nvenc_hevc-mp4'" in result.output
    (video,) = (tmp_path / "out").glob("nv_*.mp4")
    streams = subprocess.run([mv.ffmpeg_exe(), "-hide_banner", "-i", str(video)], capture_output=True).stderr
    assert b"hevc" in streams and b"yuv420p10le" in streams


def test_a_machine_with_nvenc_writes_the_format_as_saved(tmp_path, monkeypatch):
    """Where the encoder starts, nothing is swapped or refused: ffmpeg gets VHS's NVENC
    arguments (recorded here; no GPU is needed to see them)."""
    monkeypatch.setattr(mv, "encoder_problem", lambda name: None)
    monkeypatch.setattr(video_nodes, "encoder_problem", lambda name: None)
    seen = {}

    def fake_encode(frames, path, **kwargs):
        seen.update(kwargs)
        raise mv.VideoError("recorded")

    monkeypatch.setattr(video_nodes, "encode", fake_encode)
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(prompt("video/nvenc_h264-mp4", pix_fmt="yuv420p", bitrate=12)))
    result = CliRunner().invoke(main, ["run", str(path), "--smoke", "-o", str(tmp_path / "out"), "--device", "cpu"])
    assert "recorded" in result.output and "(--smoke, was 'video/nvenc" not in result.output
    assert seen["output_args"] == ["-n", "-c:v", "h264_nvenc", "-pix_fmt", "yuv420p", *BT709, "-b:v", "12M"]
