"""Image-to-video with start and end frames, and Wan-Fun control, end to end on tiny models:
the pack's examples (latest corpus versions, models linked under their saved names, inputs
drawn by ``wfrun.media.samples``), their ``workflows/`` twins as shipped, the I2V/T2V embeds
check, and a 2025-03 file with the deprecated ImageClip Encode node, migrated on the fly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from run_helpers import CORPUS_WAN, ROOT, linked_models, run_workflow, videos
from wfrun.cli import main
from wfrun.jobs.run import JobError, RunOptions, prepare
from wfrun.media.samples import write_control_video, write_start_end_images
from wfrun.media.video import probe

ENDFRAME = CORPUS_WAN / "2025-06-13_ad43eed_wanvideo_480p_I2V_endframe_example_01.json"
FUN = CORPUS_WAN / "2025-06-13_ad43eed_wanvideo_Fun_control_example_01.json"
OLD_I2V = CORPUS_WAN / "2025-03-07_f3d58dc_wanvideo_480p_I2V_example_02.json"
WORKFLOWS = ROOT / "workflows"

NAMES = {
    "diffusion_models/WanVideo\\Wan2_1-I2V-14B-480P_fp8_e4m3fn.safetensors":
        "diffusion_models/Wan2_1-I2V-14B-480P_tiny_fp8_e4m3fn.safetensors",
    "diffusion_models/WanVideo\\wan2.1_fun_control_1.3B_bf16.safetensors":
        "diffusion_models/Wan2.1-Fun-1.3B-Control_tiny_bf16.safetensors",
    "vae/wanvideo\\Wan2_1_VAE_bf16.safetensors": "vae/Wan2_1_VAE_tiny_bf16.safetensors",
    "text_encoders/umt5-xxl-enc-bf16.safetensors": "text_encoders/umt5-xxl-enc-tiny-bf16.safetensors",
    "clip_vision/open-clip-xlm-roberta-large-vit-huge-14_visual_fp16.safetensors":
        "clip_vision/open-clip-xlm-roberta-large-vit-huge-14_visual_tiny_fp16.safetensors",
    "depthanything/depth_anything_v2_vitl_fp16.safetensors": "depthanything/depth_anything_v2_vitl_fp16.safetensors",
}


@pytest.fixture(scope="module")
def models(tiny_models, tmp_path_factory):
    return linked_models(tiny_models, tmp_path_factory.mktemp("models"), NAMES)


def concat_width(main_w: int, main_h: int, spacer_w: int, column_w: int, column_h: int) -> int:
    """Width of the examples' side-by-side preview: ImageConcatMulti ``match_image_size``
    scales each image to the first one's height (``int(w * h1 / h)``), then the mp4 writer
    pads odd sizes to even for yuv420p."""
    width = main_w + spacer_w + int(column_w * main_h / column_h)
    return width + width % 2


def test_endframe_example_gives_num_frames_frames(models, tmp_path):
    write_start_end_images(tmp_path / "input", 96, 64, names=("ComfyUI_temp_oloux_00001_.png", "oldman_upscaled.png"))
    # 76 ImageResize+ sets the size (77 and the I2V encode take it by link), 89 I2V encode the frames
    report = run_workflow(ENDFRAME, models, tmp_path, ["76.width=64", "76.height=96", "89.num_frames=9",
                                                       "27.steps=2", "38.precision=fp32"],
                          input_dir=tmp_path / "input")
    # preview: the 64x96 video | an 8-wide spacer | start and end (64x96, +48 label each) stacked
    assert list(videos(report).values()) == [(9, concat_width(64, 96, 8, 64, 2 * (96 + 48)), 96)]


def test_fun_control_example_follows_the_control_video(models, tmp_path):
    write_control_video(tmp_path / "input" / "wolf_interpolated.mp4", 96, 64, frames=12)
    # 71 loads 9 of the 12 frames, 75 resizes them to 64x64; the embeds take size and count by link
    report = run_workflow(FUN, models, tmp_path, ["71.frame_load_cap=9", "75.width=64", "75.height=64",
                                                  "27.steps=2", "38.precision=fp32"],
                          input_dir=tmp_path / "input")
    assert videos(report) == {"control_00001.mp4": (9, 64, 64),
                              "WanVideoWrapper_FunControl_00001.mp4": (9, 128, 64)}


@pytest.mark.parametrize("name, expected", [
    ("wan_i2v_endframe_tiny.json", {"WanVideoWrapper_I2V_endframe_00001.mp4":
                                    (17, concat_width(320, 192, 8, 320, 2 * (192 + 48)), 192)}),
    ("wan_fun_control_tiny.json", {"control_00001.mp4": (17, 320, 192),
                                   "WanVideoWrapper_FunControl_00001.mp4": (17, 640, 192)}),
])
def test_workflow_twins_run_as_shipped(tiny_models, tmp_path, name, expected):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(WORKFLOWS / name), "--models", str(tiny_models),
                                       "-o", str(out), "--device", "cpu", "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    found = {}
    for path in map(Path, report["written"]):
        if path.suffix == ".mp4":
            info = probe(path)
            found[path.name] = (info.frame_count, info.width, info.height)
    assert found == expected


@pytest.mark.parametrize("workflow, model, found", [
    ("wan_i2v_endframe_tiny.json", "Wan2_1-T2V-1_3B_tiny_bf16.safetensors", "I2V"),
    ("wan_t2v_tiny.json", "Wan2_1-I2V-14B-480P_tiny_fp8_e4m3fn.safetensors", "T2V"),
])
def test_embeds_of_the_other_kind_stop_before_anything_loads(tiny_models, workflow, model, found):
    options = RunOptions(models_dir=str(tiny_models), overrides=[f"22.model={model}"])
    with pytest.raises(JobError) as err:
        prepare(WORKFLOWS / workflow, options)
    [problem] = err.value.diagnostics
    assert problem.code == "embeds-mismatch" and problem.node_id == "27" and problem.input == "image_embeds"
    assert problem.found == found and "by its weights" in problem.message


def test_deprecated_imageclip_encode_file_runs_after_migration(models, tmp_path):
    write_start_end_images(tmp_path / "input", 96, 64, names=("oldman_upscaled.png", "unused.png"))
    encode = "WanVideo ImageToVideo Encode"  # made by the migration, so named by title
    report = run_workflow(OLD_I2V, models, tmp_path, [f"{encode}.num_frames=9", f"{encode}.width=96",
                                                      f"{encode}.height=64", "27.steps=2", "38.precision=fp32",
                                                      "28.enable_vae_tiling=false"],
                          input_dir=tmp_path / "input")
    assert any("WanVideoImageClipEncode" in line and "0008_imageclipencode_split" in line
               for line in report.prepared.migrated)
    types = {report.prepared.graph.node(n).class_type for n in report.result.executed}
    assert {"WanVideoClipVisionEncode", "WanVideoImageToVideoEncode"} <= types
    assert "WanVideoImageClipEncode" not in types
    assert list(videos(report).values()) == [(9, 96, 64)]


def test_phantom_example_makes_the_video_without_its_reference_frames(tiny_models, tmp_path):
    from PIL import Image

    models = linked_models(tiny_models, tmp_path / "models", {
        "diffusion_models/WanVideo\\Phantom-Wan-1_3B_fp16.safetensors":
            "diffusion_models/Wan2_1-T2V-1_3B_tiny_bf16.safetensors",  # Phantom-Wan is a T2V network
        "vae/wanvideo\\Wan2_1_VAE_bf16.safetensors": "vae/Wan2_1_VAE_tiny_bf16.safetensors",
        "text_encoders/umt5-xxl-enc-bf16.safetensors": "text_encoders/umt5-xxl-enc-tiny-bf16.safetensors",
    })
    start, end = write_start_end_images(tmp_path / "input", 80, 64, names=("oldman_upscaled.png", "end.png"))
    Image.open(end).save(tmp_path / "input" / "anya.webp")
    # 61/62 INTConstants give the size, 74 Phantom embeds the frames; two references
    report = run_workflow(CORPUS_WAN / "2025-06-13_ad43eed_wanvideo_phantom_subject2vid_example_01.json", models,
                          tmp_path, ["61.value=64", "62.value=64", "74.num_frames=9", "27.steps=2",
                                     "38.precision=fp32"], input_dir=tmp_path / "input")
    # the preview stacks the 9-frame video over the (padded) reference image
    assert list(videos(report).values()) == [(9, 64, 128)]
