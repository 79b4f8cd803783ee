"""``wfrun run F --smoke``: any workflow end to end in seconds, on tiny models and stand-ins.

The pack's examples (the latest saved version of each, from the corpus manifest) and the
bundled workflows run through the CLI in-process, unchanged on disk: every model they name
is served by a tiny file of its family, missing inputs by drawn ones, and sizes, frames and
steps are capped. The sizes expected here are worked out from each workflow's saved values
with the cap's rule written below (``fit``), independently of wfrun's code; the videos are
decoded to check them. Examples with nodes wfrun cannot run are refused in one message.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import CORPUS, wan_manifest
from run_helpers import CORPUS_WAN, ROOT
from wfrun.cli import main
from wfrun.media.video import iter_frames
from wfrun.models.detect import detect
from wfrun.models.paths import ModelPathError
from wfrun.models.standins import NoStandin, family_for, write_standins
from wfrun.engine.executors import supported_types
from wfrun.jobs.coverage import file_coverage

WORKFLOWS = ROOT / "workflows"
FRONTEND_ONLY = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode", "SetNode", "GetNode"}


def fit(width: int, height: int, low: int = 0) -> tuple[int, int]:
    """The smoke size cap: the longer side to 64, the aspect kept, each side rounded to a
    multiple of 16 (at least 16, and at least the input's minimum ``low``)."""
    if max(width, height) <= 64:
        return width, height
    return tuple(v if v <= 0 else max(16, low, 16 * round(v * 64 / max(width, height) / 16))
                 for v in (width, height))


def preview_width(main_w: int, main_h: int, column_w: int, column_h: int) -> int:
    """The end-frame examples' preview: the video | an 8 px spacer | start and end frames
    stacked (each under a 48 px label), scaled to the video's height (``int(w * h1 / h)``);
    the mp4 writer pads an odd width to even."""
    width = main_w + 8 + int(column_w * main_h / column_h)
    return width + width % 2


def latest_examples() -> dict[str, Path]:
    """The latest saved version of each example in the corpus, by its path in the pack."""
    latest: dict[str, dict] = {}
    for entry in wan_manifest():
        known = latest.get(entry["path"])
        if known is None or (entry["date"], entry["file"]) > (known["date"], known["file"]):
            latest[entry["path"]] = entry
    return {Path(e["path"]).stem: CORPUS_WAN / e["file"] for e in latest.values()}


# Per example: the mp4 files written and their (frames, width, height). Frames: every
# example makes more than 9, so 9. Sizes: from the node that sets them, with ``fit``.
# Wan's embeds nodes take at least 64 px; the stand-in input video is 64x48.
I2V_64 = fit(720, 720)                      # ImageResizeKJ(v2) 624/640/720 square → 64x64
ENDFRAME = fit(480, 832)                    # node 76 ImageResize+ 480x832 (portrait) → 32x64
EXPECTED: dict[str, dict[str, tuple[int, int, int]]] = {
    # 37 EmptyEmbeds 832x480 (min 64)
    "wanvideo_T2V_example_02": {"WanVideo2_1_T2V_00001.mp4": (9, *fit(832, 480, 64))},
    "wanvideo_long_T2V_example_01": {"WanVideo2_1_T2V_00001.mp4": (9, *fit(832, 480, 64))},
    # 71 ImageResizeKJv2 720x720; the embeds take the size by link
    "wanvideo_14B_pusa_I2V_example_01": {"WanVideoWrapper_I2V_00001.mp4": (9, *I2V_64)},
    # 40 ImageToVideoEncode 832x480 (min 64)
    "wanvideo_480p_I2V_example_01": {"WanVideo2_1_00001.mp4": (9, *fit(832, 480, 64))},
    "wanvideo_480p_I2V_example_02": {"WanVideoWrapper_I2V_00001.mp4": (9, *fit(624, 624))},
    "wanvideo_480p_I2V_example_03": {"WanVideoWrapper_I2V_00001.mp4": (9, *fit(624, 624))},
    # the control video (the 64x48 stand-in, not resized) beside the result of its size
    "wanvideo_1_3B_control_example_01": {"WanVideoWrapper_I2V_00001.mp4": (9, 2 * 64, 48)},
    "wanvideo_1_3B_control_lora_example_01": {"WanVideoWrapper_I2V_00001.mp4": (9, 2 * 64, 48)},
    "wanvideo_480p_I2V_endframe_example_01": {"WanVideoWrapper_I2V_endframe_00001.mp4": (
        9, preview_width(*ENDFRAME, ENDFRAME[0], 2 * (ENDFRAME[1] + 48)), ENDFRAME[1])},
    # 76 ImageResize+ 768x768 / 107 ImageResizeKJv2 640x640, then the end-frame preview
    "wanvideo_FLF2V_720P_example_01": {"WanVideoWrapper_I2V_endframe_00001.mp4": (
        9, preview_width(*fit(768, 768), 64, 2 * (64 + 48)), 64)},
    "wanvideo_FLF2V_720P_example_02": {"WanVideoWrapper_I2V_endframe_00001.mp4": (
        9, preview_width(*fit(640, 640), 64, 2 * (64 + 48)), 64)},
    # 75 ImageResizeKJ 640x640: the depth video, then depth | result
    "wanvideo_Fun_control_example_01": {"control_00001.mp4": (9, *fit(640, 640)),
                                        "WanVideoWrapper_FunControl_00001.mp4": (9, 2 * 64, 64)},
    # 97 ImageResizeKJv2 624x624, ADE camera poses into WanVideoFunCameraEmbeds: the result |
    # the input | KJNodes' pose plot (1800x700, scaled to the video's height)
    "wanvideo_Fun_control_camera_example_01": {"WanVideoWrapper_FunControlCamera_00001.mp4": (
        9, 2 * fit(624, 624)[0] + int(1800 * fit(624, 624)[1] / 700), fit(624, 624)[1])},
    # 44 ImageResizeKJ 512x512: the input | the result
    "wanvideo_vid2vid_example_01": {"WanVideoWrapperV2V_00001.mp4": (9, 2 * 64, 64)},
    # 74 ImageResizeKJv2 512x512; FantasyTalking's audio model and embeds; the video with its audio
    "wanvideo_I2V_FantasyTalking_example_01": {"WanVideoWrapper_I2V_FantasyTalking_00001.mp4": (9, *fit(512, 512)),
                                               "WanVideoWrapper_I2V_FantasyTalking_00001-audio.mp4": (
                                                   9, *fit(512, 512))},
    # INTConstants 832 and 480 size the reference (ImageResizeKJ + ImagePadKJ): the result
    # above the padded reference, each 64x32
    "wanvideo_phantom_subject2vid_example_01": {"WanVideo21_Phantom_00001.mp4": (9, 64, 2 * fit(832, 480)[1])},
}
BUNDLED: dict[str, dict[str, tuple[int, int, int]]] = {
    "wan_t2v_tiny.json": {"wfrun_t2v_tiny_00001.mp4": (9, *fit(320, 192, 64))},
    "wan_fun_control_tiny.json": {"control_00001.mp4": (9, *fit(320, 192)),
                                  "WanVideoWrapper_FunControl_00001.mp4": (9, 2 * fit(320, 192)[0], fit(320, 192)[1])},
    "wan_i2v_endframe_tiny.json": {"WanVideoWrapper_I2V_endframe_00001.mp4": (
        9, preview_width(*fit(320, 192), fit(320, 192)[0], 2 * (fit(320, 192)[1] + 48)), fit(320, 192)[1])},
}


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """One WFRUN_CACHE for the module: the tiny models are written once."""
    return tmp_path_factory.mktemp("wfrun-cache")


def smoke(path: Path, out: Path, cache: Path, *extra: str):
    return CliRunner().invoke(main, ["run", str(path), "--smoke", "-o", str(out), "--device", "cpu",
                                     "--format", "json", *extra], env={"WFRUN_CACHE": str(cache)})


def decoded(path: Path) -> tuple[int, int, int]:
    frames = list(iter_frames(path))
    return len(frames), frames[0].shape[1], frames[0].shape[0]


def check_run(path: Path, expected: dict[str, tuple[int, int, int]], tmp_path: Path, cache: Path) -> dict:
    before = path.read_bytes()
    result = smoke(path, tmp_path / "out", cache)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    videos = {Path(p).name: decoded(Path(p)) for p in report["written"] if p.endswith(".mp4")}
    assert videos == expected
    assert path.read_bytes() == before  # the workflow file is not touched
    return report


@pytest.mark.parametrize("example", sorted(EXPECTED))
def test_smoke_runs_the_pack_example(example, tmp_path, cache):
    report = check_run(latest_examples()[example], EXPECTED[example], tmp_path, cache)
    assert any("a tiny Wan 2.1" in line for line in report["standins"])  # the real names were served


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_smoke_runs_the_bundled_workflow(name, tmp_path, cache):
    report = check_run(WORKFLOWS / name, BUNDLED[name], tmp_path, cache)
    # they name wfrun's own tiny files and ship their inputs: nothing stands in for them
    assert report["standins"] == []


#: Examples that run until the smoke caps make two of their inputs disagree (a gap of the caps,
#: not of the nodes): the message each stops with. multitalk_test_01: its uni3c render is 81
#: duplicated frames (VHS_DuplicateImages' multiply_by, uncapped) for a capped video;
#: context_windows_01: one INTConstant sizes the video (capped at 9 frames) and MultiTalk's
#: audio, whose loudness measure needs 10 frames at 25 fps.
SMOKE_GAPS = {"wanvideo_multitalk_test_01": "render as many frames as the video",
              "wanvideo_multitalk_test_context_windows_01": "the loudness measure needs at least 0.4 s",
              # --smoke's 9 frames are all the 9 reference frames it cuts off after decoding
              "wanvideo_skyreels_a2_example_01": "start index 9 is out of range for 9 images"}


def test_every_other_example_runs_or_is_refused_in_one_message_before_anything_loads(tmp_path, cache):
    """The examples outside EXPECTED either run end to end (VACE, …: their videos are written)
    or are refused before anything loads, naming each node wfrun cannot run; none crashes."""
    others = {k: v for k, v in latest_examples().items() if k not in EXPECTED}
    assert len(others) + len(EXPECTED) == len(latest_examples()) and others
    runnable = set(supported_types()) | FRONTEND_ONLY
    refused = 0
    for name, path in others.items():
        fresh_cache = tmp_path / f"cache-{name}"
        result = smoke(path, tmp_path / name, fresh_cache)
        assert result.exit_code in (0, 1), (name, result.output[-800:])
        assert result.exit_code == 0 or isinstance(result.exception, SystemExit)  # no traceback
        if name in SMOKE_GAPS:  # runs, and stops with the known message
            assert result.exit_code == 1 and SMOKE_GAPS[name] in result.output, (name, result.output[-800:])
            continue
        if result.exit_code == 0:
            assert json.loads(result.stdout)["written"], name
            continue
        refused += 1
        error = json.loads(result.stdout)["error"]
        assert "wfrun cannot run" in error and "nothing was loaded" in error
        nodes = [n for n in json.loads(path.read_text())["nodes"] if n["type"] not in runnable]
        listed = [line for line in error.splitlines() if line.startswith("  node ")]
        assert listed and all(any(f"node {n['id']} " in line and f"({n['type']}, " in line for n in nodes)
                              for line in listed), (name, error)
        assert not (tmp_path / name).exists()  # nothing written
        assert not fresh_cache.exists()  # not even the tiny models
    # since session 25 every latest example runs (HyVideoEnhanceAVideo was the last gap): the
    # refusal itself is checked on a file of other people's below
    assert refused == 0


def test_unsupported_example_message_names_each_node_it_cannot_run(tmp_path, cache):
    runnable = set(supported_types()) | FRONTEND_ONLY

    def unsupported(path: Path) -> list[dict]:
        """The nodes of the file whose types no pack of wfrun runs, read from the file itself."""
        return [n for n in json.loads(path.read_text()).get("nodes", []) if n["type"] not in runnable]

    # the first file of the pack's examples, then of the other people's, with nodes wfrun cannot
    # run among those its outputs need (a node left in an unused branch does not stop a run)
    candidates = [*latest_examples().values(), *sorted((CORPUS / "realworld").glob("[0-9]*.json"))]
    path = next((p for p in candidates if unsupported(p) and file_coverage(p).blocking), None)
    assert path is not None, "wfrun runs every node of every corpus file: this test needs a file it cannot run"
    result = CliRunner().invoke(main, ["run", str(path), "--smoke", "-o", str(tmp_path / "out")],
                                env={"WFRUN_CACHE": str(tmp_path / "cache")})
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    planned = set(file_coverage(path).unsupported_ids)
    nodes = [n for n in unsupported(path) if str(n["id"]) in planned]
    assert nodes and len(nodes) == len(planned)
    assert result.output.count("error:") == 1
    assert f"wfrun cannot run {len(nodes)} node(s)" in result.output
    lines = result.output.splitlines()
    for node in nodes:  # id, title (or the node's display name) and type
        title = node.get("title")
        assert any(line.startswith(f"  node {node['id']} '{title or ''}") and f"({node['type']}, " in line
                   for line in lines), node
    assert "Traceback" not in result.output


def test_smoke_caps_in_memory_and_keeps_what_the_user_sets(tmp_path, cache):
    path = latest_examples()["wanvideo_long_T2V_example_01"]
    result = smoke(path, tmp_path / "out", cache, "--dry-run", "--set", "27.steps=3")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    changes = "\n".join(report["overrides"])
    assert "node 27 'WanVideo Sampler': steps = 3" in changes and "steps = 2" not in changes  # --set wins
    width, height = fit(832, 480, 64)
    for expected in (f"num_frames = 9 (--smoke, was 257)", f"width = {width} (--smoke, was 832)",
                     f"height = {height} (--smoke, was 480)",
                     # 5 frames (2 latents) overlapping by 4 (1 latent): several windows over 9 frames
                     "context_frames = 5 (--smoke, was 81)", "context_overlap = 4 (--smoke, was 16)"):
        assert expected in changes
    assert report["estimate"]["max_tokens"] == 3 * (height // 16) * (width // 16)
    assert not (tmp_path / "out").exists()  # a dry run writes nothing, stand-in inputs included


def test_smoke_keeps_the_steps_of_a_fixed_step_scheduler(tmp_path, cache):
    """multitalk_test_02 samples with flowmatch_distill, which runs exactly 4 steps."""
    path = latest_examples()["wanvideo_multitalk_test_02"]
    result = smoke(path, tmp_path / "out", cache, "--dry-run")
    assert result.exit_code == 0, result.output
    changes = "\n".join(json.loads(result.stdout)["overrides"])
    assert "node 128 'WanVideo Sampler': steps" not in changes and "num_frames" in changes


def test_smoke_caps_a_size_held_by_constant_nodes(tmp_path, cache):
    path = latest_examples()["wanvideo_phantom_subject2vid_example_01"]
    data = json.loads(path.read_text())
    constants = {str(n["id"]): n for n in data["nodes"] if n["type"] == "INTConstant"}
    result = smoke(path, tmp_path / "out", cache, "--dry-run")
    assert result.exit_code == 0, result.output
    changes = json.loads(result.stdout)["overrides"]
    # 61 and 62 feed the reference's resize and pad as width and height
    width, height = fit(constants["61"]["widgets_values"][0], constants["62"]["widgets_values"][0])
    for node_id, value in (("61", width), ("62", height)):
        start = f"node {node_id} '{constants[node_id]['title']}': value = {value} (--smoke, was "
        assert any(line.startswith(start) for line in changes), changes


def test_missing_inputs_get_stand_ins_and_present_ones_are_used(tmp_path, cache):
    path = latest_examples()["wanvideo_vid2vid_example_01"]
    result = smoke(path, tmp_path / "out", cache, "--dry-run")
    report = json.loads(result.stdout)
    line = next(s for s in report["standins"] if "'wolf_interpolated.mp4' is missing" in s)
    assert "would be drawn" in line
    # with the user's own video in the input folder, it is read instead
    own = tmp_path / "input" / "wolf_interpolated.mp4"
    from wfrun.media.samples import write_control_video

    write_control_video(own, 64, 64, frames=12)
    result = smoke(path, tmp_path / "out", cache, "--dry-run", "--input", str(tmp_path / "input"))
    assert result.exit_code == 0, result.output
    assert not any("is missing" in s for s in json.loads(result.stdout)["standins"])


def test_smoke_refuses_models_folder(tmp_path, cache):
    result = smoke(WORKFLOWS / "wan_t2v_tiny.json", tmp_path / "out", cache, "--models", str(tmp_path))
    assert result.exit_code == 2 and "--smoke" in result.output


def test_tiny_models_alone_serve_any_workflow_but_not_its_inputs(tmp_path, cache):
    path = latest_examples()["wanvideo_480p_I2V_example_02"]
    result = CliRunner().invoke(main, ["run", str(path), "--tiny-models", "--dry-run", "-o", str(tmp_path / "out")],
                                env={"WFRUN_CACHE": str(cache)})
    assert result.exit_code == 1
    assert "missing-input-file" in result.output and "missing-model" not in result.output


# --- families: the stand-in is what its name and loader say -------------------------------

WAN = "unet_gguf,diffusion_models"  # WanVideoModelLoader's folders
FAMILIES = [
    # loader, input, folders, name → what wfrun's header detection makes of the stand-in
    ("WanVideoModelLoader", "model", WAN, "WanVideo\\Wan2_1-I2V-14B-480P_fp8_e4m3fn.safetensors",
     ("wan_transformer", "i2v-480P", "original", "fp8_e4m3fn", False)),
    ("WanVideoModelLoader", "model", WAN, "WanVideo\\wan2.1_t2v_1.3B_fp16.safetensors",
     ("wan_transformer", "t2v", "comfyui", "fp16", False)),
    ("WanVideoModelLoader", "model", WAN, "WanVideo\\Wan2_1-FLF2V-14B-720P_fp8_e4m3fn.safetensors",
     ("wan_transformer", "flf2v-720P", "original", "fp8_e4m3fn", False)),
    ("WanVideoModelLoader", "model", WAN, "WanVideo\\wan2.1_fun_control_1.3B_bf16.safetensors",
     ("wan_transformer", "fun-control", "comfyui", "bf16", False)),
    ("WanVideoModelLoader", "model", WAN, "WanVideo\\Phantom-Wan-1_3B_fp16.safetensors",
     ("wan_transformer", "t2v", "original", "fp16", False)),
    ("WanVideoModelLoader", "model", WAN, "Wan2_1-T2V-14B_fp8_e5m2.safetensors",
     ("wan_transformer", "t2v", "original", "fp8_e5m2", False)),
    ("UNETLoader", "unet_name", "diffusion_models", "wan2.1_i2v_480p_14B_fp8_scaled.safetensors",
     ("wan_transformer", "i2v-480P", "comfyui", "fp8_e4m3fn", True)),
    ("UNETLoader", "unet_name", "diffusion_models", "wan2.1_fun_inp_1.3B_bf16.safetensors",
     ("wan_transformer", "fun-inp", "comfyui", "bf16", False)),
    ("WanVideoVAELoader", "model_name", "vae", "wanvideo\\Wan2_1_VAE_fp32.safetensors",
     ("wan_vae", "wan2.1", "original", "fp32", False)),
    ("LoadWanVideoT5TextEncoder", "model_name", "text_encoders", "umt5-xxl-enc-fp8_e4m3fn.safetensors",
     ("umt5", "umt5", "original", "fp8_e4m3fn", False)),
    ("CLIPLoader", "clip_name", "text_encoders", "umt5_xxl_fp8_e4m3fn_scaled.safetensors",
     ("umt5", "umt5", "transformers", "fp8_e4m3fn", True)),
    ("CLIPVisionLoader", "clip_name", "clip_vision", "clip_vision_h.safetensors",
     ("clip_vision", None, "transformers", "fp16", False)),
    ("LoadWanVideoClipTextEncoder", "model_name", "clip_vision,text_encoders",
     "open-clip-xlm-roberta-large-vit-huge-14_visual_fp16.safetensors",
     ("clip_vision", None, "original", "fp16", False)),
    ("WanVideoLoraSelect", "lora", "loras",
     "WanVideo\\Lightx2v\\lightx2v_I2V_14B_480p_cfg_step_distill_rank64_bf16.safetensors",
     ("lora", "lora", "", "bf16", False)),
]


@pytest.mark.parametrize("class_type, input_name, folders, name, expected", FAMILIES,
                         ids=[f[3].split("\\")[-1] for f in FAMILIES])
def test_stand_in_is_detected_as_the_family_its_name_says(class_type, input_name, folders, name, expected, tmp_path,
                                                          tiny_models):
    standin = family_for(class_type, input_name, folders, name)
    assert standin.notice is None
    root = write_standins([standin], tiny_models, tmp_path)
    # written under the very name, in the folder the loader searches last (so it finds it)
    path = root / folders.split(",")[-1] / Path(*name.split("\\"))
    info = detect(path)
    kind, variant, layout, dtype, scaled = expected
    assert (info.kind, info.layout, info.dtype, info.scaled) == (kind, layout, dtype, scaled)
    if variant is not None:
        assert info.variant == variant


def test_control_lora_stand_in_widens_the_t2v_patch_embedding(tmp_path, tiny_models):
    from safetensors import safe_open

    name = "WanVid\\wan2.1-1.3b-control-lora-tile-v0.1_comfy.safetensors"
    root = write_standins([family_for("WanVideoLoraSelect", "lora", "loras", name)], tiny_models, tmp_path)
    with safe_open(str(root / "loras" / "WanVid" / "wan2.1-1.3b-control-lora-tile-v0.1_comfy.safetensors"), "pt") as f:
        # noisy latents and control latents: twice the 16 input channels of a T2V model
        assert f.get_slice("diffusion_model.patch_embedding.lora_A.weight").get_shape()[1] == 2 * 16


def test_a_name_with_no_clue_gets_the_loaders_default_with_a_notice():
    standin = family_for("WanVideoModelLoader", "model", "unet_gguf,diffusion_models", "my_finetune_v3.safetensors")
    assert standin.family.kind == "wan_transformer" and standin.family.task == "t2v"
    assert "T2V" in standin.notice


@pytest.mark.parametrize("class_type, input_name, folders, name, reason", [
    ("WanVideoModelLoader", "model", "unet_gguf,diffusion_models", "old_model.ckpt", "pickle"),
    # VACE and Wan 2.2 models get stand-ins of their families (tests/test_models_families_wan22.py)
])
def test_models_wfrun_cannot_run_get_no_stand_in_and_say_why(class_type, input_name, folders, name, reason):
    with pytest.raises(NoStandin, match=reason):
        family_for(class_type, input_name, folders, name)


def test_the_uni3c_controlnet_stand_in_fits_the_tiny_transformers(tmp_path, tiny_models):
    from wfrun.models.tiny import TRANSFORMER
    from wfrun.models.uni3c import load_uni3c

    standin = family_for("WanVideoUni3C_ControlnetLoader", "model", "controlnet",
                         "Wan21_Uni3C_controlnet_fp16.safetensors")
    assert standin.family.kind == "uni3c" and standin.family.precision == "fp16"
    root = write_standins([standin], tiny_models, tmp_path)
    net = load_uni3c(root / "controlnet" / "Wan21_Uni3C_controlnet_fp16.safetensors")
    # the tiny I2V input's first 20 channels and 16 render channels; states as wide as the tiny model
    assert net.config.in_channels == 36 and net.config.out_dim == net.config.time_embed_dim == TRANSFORMER["dim"]


def test_unsafe_names_get_no_stand_in():
    for name in ("../escape.safetensors", "/etc/passwd.safetensors", "C:\\models\\x.safetensors"):
        with pytest.raises(ModelPathError):
            family_for("WanVideoVAELoader", "model_name", "vae", name)


def test_the_same_stand_ins_are_written_once_and_reused(tmp_path, tiny_models):
    standins = [family_for("WanVideoVAELoader", "model_name", "vae", "wanvideo\\Wan2_1_VAE_bf16.safetensors")]
    first = write_standins(standins, tiny_models, tmp_path)
    stamp = (first / "vae" / "wanvideo" / "Wan2_1_VAE_bf16.safetensors").stat().st_mtime_ns
    assert write_standins(standins, tiny_models, tmp_path) == first
    assert (first / "vae" / "wanvideo" / "Wan2_1_VAE_bf16.safetensors").stat().st_mtime_ns == stamp
    other = write_standins([family_for("WanVideoVAELoader", "model_name", "vae", "Wan2_1_VAE_fp32.safetensors")],
                           tiny_models, tmp_path)
    assert other != first and [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_pickle_name_gets_a_pickled_stand_in_only_where_the_run_reads_pickles(tmp_path, tiny_models):
    """A ``.pth`` VAE (some workflows name ComfyUI's old release) is refused under --smoke as a
    real run refuses it, and with --allow-pickle gets the same tiny tensors torch.save'd, read
    back through the pickle reader."""
    import torch
    from safetensors.torch import load_file

    from wfrun.models.reader import open_checkpoint, pickle_files_allowed

    with pytest.raises(NoStandin, match="--allow-pickle"):
        family_for("VAELoader", "vae_name", "vae", "wan_2.1_vae.pth")
    pickled = family_for("VAELoader", "vae_name", "vae", "wan_2.1_vae.pth", allow_pickle=True)
    plain = family_for("VAELoader", "vae_name", "vae", "wan_2.1_vae.safetensors")
    assert pickled.family == plain.family
    folder_p = write_standins([pickled], tiny_models, tmp_path / "p")
    folder_s = write_standins([plain], tiny_models, tmp_path / "s")
    path = folder_p / "vae" / "wan_2.1_vae.pth"
    assert path.read_bytes()[:2] == b"PK"  # torch.save's zip archive, not safetensors under another name
    with pytest.raises(Exception, match="pickle"):
        open_checkpoint(path)
    expected = torch.load(path, weights_only=True)  # PyTorch's own restricted reader
    with pickle_files_allowed(), open_checkpoint(path) as reader:
        got = {name: reader.read(name) for name in reader.tensors}
    assert got.keys() == expected.keys() and all(torch.equal(got[k], expected[k]) for k in expected)
    # the layout of the safetensors stand-in of that family (its values are seeded by the file name)
    plain_keys = load_file(str(folder_s / "vae" / "wan_2.1_vae.safetensors")).keys()
    assert set(plain_keys) == set(got)


def test_overlong_names_get_no_stand_in():
    with pytest.raises(NoStandin, match="longer"):
        family_for("WanVideoVAELoader", "model_name", "vae", "x" * 300 + ".safetensors")


def test_a_model_without_stand_in_is_one_clear_problem_before_loading(tmp_path, cache):
    path = latest_examples()["wanvideo_T2V_example_02"]
    result = smoke(path, tmp_path / "out", cache, "--set", "22.model=old_model.ckpt")
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    diagnostics = json.loads(result.stdout)["diagnostics"]
    assert [(d["code"], d["node_id"], d["input"]) for d in diagnostics] == [("missing-model", "22", "model")]
    assert "pickle" in diagnostics[0]["message"].lower() and diagnostics[0]["hint"]
    assert not (tmp_path / "out").exists()


def test_unsafe_names_are_refused_not_stood_in(tmp_path, cache):
    path = latest_examples()["wanvideo_vid2vid_example_01"]
    result = smoke(path, tmp_path / "out", cache, "--set", "38.model_name=../../outside.safetensors",
                   "--set", "43.video=../../../secret.mp4")
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    found = {(d["code"], d["node_id"]) for d in json.loads(result.stdout)["diagnostics"]}
    assert found == {("missing-model", "38"), ("missing-input-file", "43")}
    assert not list(tmp_path.rglob("*.mp4")) and not list(cache.rglob("outside.safetensors"))


def test_flf2v_adds_its_position_table_to_the_packs_concatenated_clip_tokens(tiny_models):
    """The pack gives FLF2V both images' CLIP tokens concatenated and its ``MLPProj`` adds the
    position table to them as they are (``image_embeds + emb_pos``, then LayerNorm, Linear,
    GELU, Linear, LayerNorm), which diffusers' embedder must match."""
    import torch
    import torch.nn.functional as F
    from safetensors.torch import load_file

    from wfrun.models.load import load_transformer
    from wfrun.sampling.forward import _flf2v_image_tokens

    path = tiny_models / "diffusion_models" / "Wan2_1-FLF2V-14B-720P_tiny_fp16.safetensors"
    model = load_transformer(path, dtype=torch.float32)
    sd = {k: v.float() for k, v in load_file(str(path)).items() if k.startswith("img_emb.")}
    tokens = torch.randn(1, *sd["img_emb.emb_pos"].shape[1:], generator=torch.Generator().manual_seed(0))
    x = tokens + sd["img_emb.emb_pos"]
    x = F.layer_norm(x, x.shape[-1:], sd["img_emb.proj.0.weight"], sd["img_emb.proj.0.bias"])
    x = F.gelu(F.linear(x, sd["img_emb.proj.1.weight"], sd["img_emb.proj.1.bias"]))
    x = F.linear(x, sd["img_emb.proj.3.weight"], sd["img_emb.proj.3.bias"])
    expected = F.layer_norm(x, x.shape[-1:], sd["img_emb.proj.4.weight"], sd["img_emb.proj.4.bias"])
    with torch.no_grad():
        got = model.condition_embedder.image_embedder(_flf2v_image_tokens(model, tokens))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_size_and_frame_caps_follow_the_rule():
    from wfrun.jobs.smoke import capped_frames, capped_pair

    for width in range(0, 2000, 37):
        for height in range(0, 2000, 53):
            assert capped_pair(width, height) == fit(width, height)
            assert capped_pair(width, height, (64, 64)) == fit(width, height, 64)
    for frames in range(1, 300):
        assert capped_frames("num_frames", frames) == min(frames, 9)
    assert capped_frames("frame_load_cap", 0) == 9 and capped_frames("num_frames", 0) == 0


def test_step_boundaries_scale_with_the_capped_steps_so_each_sampler_still_steps():
    from wfrun.jobs.smoke import MAX_STEPS, capped_step_range

    for steps in range(MAX_STEPS + 1, 60):
        for k in range(1, steps):
            got = capped_step_range({"steps": steps, "end_step": k, "start_step": k})
            # both halves of a split keep at least one of the capped steps
            assert got == {"end_step": 1, "start_step": 1}
    assert capped_step_range({"steps": 20, "end_at_step": 10000, "start_at_step": 0}) == {}
    assert capped_step_range({"steps": 2, "end_step": 1}) == {}  # already within the cap


def test_computed_steps_take_their_boundaries_along_and_sizes_keep_a_multiple():
    """Steps computed while the workflow runs (a slider through Set/Get nodes) are capped
    then; a boundary saved or computed beside them scales with them, so the second sampler of
    a split still steps. A node that rounds sizes down to ``multiple_of`` gets capped sizes
    that stay at least one multiple (48 with multiple_of 64 would become 0)."""
    from wfrun.graph.model import NodeInstance
    from wfrun.jobs.smoke import RuntimeCaps, capped_ints

    caps = RuntimeCaps.__new__(RuntimeCaps)
    caps.changes, caps.targets = [], {"9": {"steps": 1, "start_step": 0}}
    node = NodeInstance(id="9", class_type="WanVideoSampler", title="Sampler", inputs={})
    got = caps(node, {"steps": 8, "start_step": 4, "end_step": -1, "cfg": 1.0})
    assert (got["steps"], got["start_step"], got["end_step"], got["cfg"]) == (2, 1, -1, 1.0)
    assert any("start_step = 1" in line for line in caps.changes)
    assert capped_ints({"width": (576, 0), "height": (448, 0), "multiple_of": (64, 0)}) == {
        "width": 64, "height": 64}
    assert capped_ints({"width": (576, 0), "height": (448, 0)}) == {"width": 64, "height": 48}


def test_images_entering_an_upscale_model_are_kept_small():
    """Chained 4x upscalers would take a 64 px stand-in video to 4096 px: each upscale model
    node gets its image at most MAX_SIDE on the longer side, aspect kept; other nodes' images
    and small images pass as they are."""
    import torch

    from wfrun.graph.model import NodeInstance
    from wfrun.jobs.smoke import MAX_SIDE, RuntimeCaps

    caps = RuntimeCaps.__new__(RuntimeCaps)
    caps.changes, caps.targets = [], {}
    big, small = torch.rand(3, 256, 192, 3), torch.rand(2, 32, 48, 3)
    upscale = NodeInstance(id="5", class_type="ImageUpscaleWithModelBatched", title="Up", inputs={})
    got = caps(upscale, {"images": big, "per_batch": 16})
    assert got["images"].shape == (3, MAX_SIDE, 48, 3) and got["per_batch"] == 16
    assert abs(got["images"].mean() - big.mean()) < 0.02  # a resize, not a crop or a blank
    assert caps(upscale, {"images": small})["images"] is small
    other = NodeInstance(id="6", class_type="ImageScale", title="Scale", inputs={})
    assert caps(other, {"image": big})["image"] is big
    assert len(caps.changes) == 1 and "256" not in caps.changes[0].split("->")[1]


def test_a_size_in_megapixels_is_capped_to_a_stand_in_square_or_the_nodes_least():
    """``megapixels`` escapes the width/height caps; it is capped to MAX_SIDE² pixels, or to
    the node's own minimum where that is larger (core's ImageScaleToTotalPixels: 0.01)."""
    from wfrun.graph.model import NodeInstance
    from wfrun.jobs.smoke import MAX_SIDE, RuntimeCaps
    from wfrun.specs.registry import default_registry

    caps = RuntimeCaps.__new__(RuntimeCaps)
    caps.changes, caps.targets = [], {}
    core = NodeInstance(id="7", class_type="ImageScaleToTotalPixels", title="Scale", inputs={})
    core.signature = default_registry().get("ImageScaleToTotalPixels").latest
    least = next(i.min for i in core.signature.inputs if i.name == "megapixels")
    assert least > MAX_SIDE * MAX_SIDE / 1e6
    assert caps(core, {"megapixels": 1.1, "upscale_method": "lanczos"}) == {"megapixels": least,
                                                                             "upscale_method": "lanczos"}
    other = NodeInstance(id="8", class_type="SomePackScale", title="Scale", inputs={})
    assert caps(other, {"megapixels": 2})["megapixels"] == MAX_SIDE * MAX_SIDE / 1e6
    assert caps(other, {"megapixels": 0.001})["megapixels"] == 0.001
    assert len(caps.changes) == 2


def test_a_save_prefix_outside_the_output_folder_is_kept_inside_it_for_a_smoke_run():
    from wfrun.jobs.smoke import inside_output

    assert inside_output("/home/them/out/clip") == "home/them/out/clip"
    assert inside_output("../../etc/clip") == "etc/clip"
    assert inside_output("C:\\Users\\them\\clip") == "Users/them/clip"
    assert inside_output("Wan/clip_%date%") == "Wan/clip_%date%"  # a relative prefix stays as saved
    assert inside_output("/") == "wfrun"


def test_values_made_for_full_size_inputs_are_kept_within_the_stand_ins():
    from wfrun.jobs.smoke import capped_ints

    got = capped_ints({"extra_padding": (256, 0), "skip_first_images": (8, 0), "start_index": (20, 0),
                       "batch_index": (-1, -1)})
    assert got == {"extra_padding": 8, "skip_first_images": 2, "start_index": 2, "batch_index": -1}


def test_power_lora_loader_rows_get_lora_stand_ins():
    from wfrun.graph.model import NodeInstance
    from wfrun.jobs.standins import lora_rows

    node = NodeInstance(id="3", class_type="Power Lora Loader (rgthree)",
                        saved_widgets=[{}, {"type": "PowerLoraLoaderHeaderWidget"},
                                       {"on": True, "lora": "wan/fast.safetensors", "strength": 1},
                                       {"on": False, "lora": "off.safetensors", "strength": 1}, {}, ""])
    node.inputs["lora_3"] = {"on": True, "lora": "queued.safetensors", "strength": 0.5}
    assert lora_rows(node) == ["wan/fast.safetensors", "queued.safetensors"]


def _measuring_graph():
    """LoadImage → GetImageSize → (width × 2) → WanVideoEmptyEmbeds.width; a number made of
    constants (SimpleMath+ "1000") → its height."""
    from specs_for_tests import inp, node, out, workflow
    from wfrun.formats.document import from_data
    from wfrun.graph import build
    from wfrun.specs.registry import default_registry

    nodes = [node(1, "LoadImage", ["a.png", "image"], outputs=[out("IMAGE", "IMAGE", [1])]),
             node(2, "GetImageSize", [], inputs=[inp("image", "IMAGE", 1)],
                  outputs=[out("width", "INT", [2]), out("height", "INT"), out("batch_size", "INT")]),
             node(3, "SimpleMath+", ["a*2"], inputs=[inp("a", "*", 2)], outputs=[out("INT", "INT", [3])]),
             node(4, "SimpleMath+", ["1000"], outputs=[out("INT", "INT", [4])]),
             node(5, "WanVideoEmptyEmbeds", [832, 480, 81],
                  inputs=[inp("width", "INT", 3, widget="width"), inp("height", "INT", 4, widget="height")],
                  outputs=[out("image_embeds", "WANVIDIMAGE_EMBEDS")])]
    links = [[1, 1, 0, 2, 0, "IMAGE"], [2, 2, 0, 3, 0, "INT"], [3, 3, 0, 5, 0, "INT"], [4, 4, 0, 5, 1, "INT"]]
    return build(from_data(workflow(nodes, links), "measure.json"), default_registry())


def test_sizes_measured_from_images_follow_the_images_and_computed_ones_are_capped():
    """A size measured from an image (here doubled) describes data that flows on beside it,
    so it is left as it arrives; a size computed from constants is capped as before."""
    from wfrun.engine.plan import make_plan
    from wfrun.jobs.smoke import RuntimeCaps, measured_from_data

    graph = _measuring_graph()
    embeds = graph.node("5")
    assert measured_from_data(graph, embeds.inputs["width"])
    assert not measured_from_data(graph, embeds.inputs["height"])
    caps = RuntimeCaps(graph, make_plan(graph, ["5"]))
    assert caps.targets == {"5": {"height": 64}}
    got = caps(embeds, {"width": 512, "height": 1000, "num_frames": 9})
    assert got["width"] == 512  # measured: as the image says
    assert got["height"] == 64 and got["num_frames"] == 9


def test_the_longest_side_of_a_made_image_is_capped_like_a_size():
    from wfrun.jobs.smoke import MAX_SIDE, capped_ints

    assert capped_ints({"max_side_length": (1344, 256)}) == {"max_side_length": MAX_SIDE}
    assert capped_ints({"max_side_length": (48, 1)}) == {"max_side_length": 48}


def test_the_s2v_first_chunk_keeps_the_64_px_its_motion_frames_need():
    """ComfyUI's WanSoundImageToVideo takes 16 px, but the model's frame packer patches the
    motion frames 8x8 latents: 960x544 capped by the plain rule (64x32) would fail there, so
    each side keeps 64 px (``fit`` with that floor), saved or computed."""
    from specs_for_tests import inp, node, out, workflow
    from wfrun.engine.plan import make_plan
    from wfrun.formats.document import from_data
    from wfrun.graph import build
    from wfrun.jobs.smoke import RuntimeCaps, apply_smoke_caps
    from wfrun.specs.registry import default_registry

    outs = [out("positive", "CONDITIONING"), out("negative", "CONDITIONING"), out("latent", "LATENT")]
    nodes = [node(1, "WanSoundImageToVideo", [960, 544, 77, 1], outputs=outs),
             node(2, "SimpleMath+", ["1280"], outputs=[out("INT", "INT", [1])]),
             node(3, "SimpleMath+", ["720"], outputs=[out("INT", "INT", [2])]),
             node(4, "WanSoundImageToVideo", [832, 480, 77, 1], outputs=outs,
                  inputs=[inp("width", "INT", 1, widget="width"), inp("height", "INT", 2, widget="height")])]
    links = [[1, 2, 0, 4, 0, "INT"], [2, 3, 0, 4, 1, "INT"]]
    graph = build(from_data(workflow(nodes, links), "s2v.json"), default_registry())
    plan = make_plan(graph, ["1", "4"])
    changes = apply_smoke_caps(graph, plan)
    saved = graph.node("1")
    assert (saved.inputs["width"], saved.inputs["height"]) == fit(960, 544, 64) == (64, 64)
    assert fit(960, 544) == (64, 32) and any("height = 64" in c for c in changes)
    caps = RuntimeCaps(graph, plan)
    assert caps.targets == {"4": {"width": 64, "height": 64}}
    got = caps(graph.node("4"), {"width": 1280, "height": 720, "length": 9, "batch_size": 1})
    assert (got["width"], got["height"]) == fit(1280, 720, 64) == (64, 64)


def test_a_sound_window_moves_to_the_stand_in_sounds_one_second():
    """AudioCrop saved for a whole song (0:30 to 0:32) would cut nothing from the 1 s stand-in
    (set 7's lip-sync file then fed an empty waveform on): smoke cuts 0:00 to 0:01, the
    stand-in's length, and says so; a window already there stays."""
    from specs_for_tests import inp, node, out, workflow
    from wfrun.engine.plan import make_plan
    from wfrun.formats.document import from_data
    from wfrun.graph import build
    from wfrun.jobs.smoke import AUDIO_WINDOWS, apply_smoke_caps
    from wfrun.media.standins import SECONDS
    from wfrun.packs.audio_separation.nodes import _seconds
    from wfrun.specs.registry import default_registry

    window = AUDIO_WINDOWS["AudioCrop"]
    assert _seconds(window["end_time"], "end_time") - _seconds(window["start_time"], "start_time") == SECONDS
    nodes = [node(1, "LoadAudio", ["song.wav"], outputs=[out("AUDIO", "AUDIO", [1, 2])]),
             node(2, "AudioCrop", ["0:30", "0:32"], inputs=[inp("audio", "AUDIO", 1)],
                  outputs=[out("AUDIO", "AUDIO")]),
             node(3, "AudioCrop", ["0:00", "0:01"], inputs=[inp("audio", "AUDIO", 2)],
                  outputs=[out("AUDIO", "AUDIO")])]
    links = [[1, 1, 0, 2, 0, "AUDIO"], [2, 1, 0, 3, 0, "AUDIO"]]
    graph = build(from_data(workflow(nodes, links), "crop.json"), default_registry())
    changes = apply_smoke_caps(graph, make_plan(graph, ["2", "3"]))
    assert (graph.node("2").inputs["start_time"], graph.node("2").inputs["end_time"]) == ("0:00", "0:01")
    assert [c for c in changes if "AudioCrop" in c] == [
        "node 2 'AudioCrop': start_time = '0:00' (--smoke, was '0:30')",
        "node 2 'AudioCrop': end_time = '0:01' (--smoke, was '0:32')"]
