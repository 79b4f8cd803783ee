"""Tiny stand-ins take the model's task from the workflow when the file name says none.

References: the families each graph needs, from the nodes' documented inputs (ComfyUI's
WanImageToVideo concatenates a mask and the image latents: 36 input channels, an I2V model;
WanVaceToVideo feeds VACE blocks; WanFunControlToVideo the Fun Control patch; Wan22ImageToVideoLatent
the Wan 2.2 VAE's 48 channels, TI2V-5B; two KSamplerAdvanced windows over one prompt, the
high- and low-noise experts of Wan 2.2 A14B). The smoke runs check that the chosen stand-ins
load as that family (the run's own detection, from the file's tensors) and sample through the
whole graph. ComfyUI's core nodes let a T2V model ignore image or VACE conditioning, so with the
loader's default (T2V) such a graph ran too, on the wrong model: the I2V concat and the VACE
blocks were never exercised; the wrapper and all-in-one checkpoints were refused outright.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from wfrun.cli import main
from wfrun.engine.plan import make_plan
from wfrun.formats.document import from_data
from wfrun.graph import build
from wfrun.jobs.standin_context import standin_hints
from wfrun.models.standins import TaskHint, family_for
from wfrun.specs.registry import default_registry

NEG = "blurry"


LATENT_ONLY = ("Wan22ImageToVideoLatent", "EmptyHunyuanLatentVideo")


def core(model_names: list[str], conditioning: dict, *, vae: str = "wan_2.1_vae.safetensors",
         split: bool = True) -> dict:
    """A core Wan API prompt: one or two UNETLoaders (two: KSamplerAdvanced windows of one
    prompt, the second going on with the first's latent), ``conditioning`` as node 8 (making
    positive, negative and latent, or only the latent: ``LATENT_ONLY``)."""
    prompt = {
        "3": {"class_type": "VAELoader", "inputs": {"vae_name": vae}},
        "4": {"class_type": "CLIPLoader", "inputs": {"clip_name": "umt5_xxl_fp8_e4m3fn_scaled.safetensors",
                                                     "type": "wan", "device": "default"}},
        "5": {"class_type": "CLIPTextEncode", "inputs": {"text": "a fox", "clip": ["4", 0]}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": NEG, "clip": ["4", 0]}},
        "7": {"class_type": "LoadImage", "inputs": {"image": "start.png"}},
        "8": conditioning,
        "13": {"class_type": "VAEDecode", "inputs": {"samples": ["12", 0], "vae": ["3", 0]}},
        "14": {"class_type": "SaveAnimatedWEBP", "inputs": {
            "filename_prefix": "standin", "fps": 16.0, "lossless": False, "quality": 80, "method": "default",
            "images": ["13", 0]}},
    }
    latent_only = conditioning["class_type"] in LATENT_ONLY
    cond = (["5", 0], ["6", 0]) if latent_only else (["8", 0], ["8", 1])
    latent = ["8", 0 if latent_only else 2]
    for i, name in enumerate(model_names):
        prompt[str(1 + i)] = {"class_type": "UNETLoader", "inputs": {"unet_name": name, "weight_dtype": "default"}}
        prompt[str(9 + i)] = {"class_type": "ModelSamplingSD3", "inputs": {"shift": 5.0, "model": [str(1 + i), 0]}}
    two = len(model_names) == 2
    windows = [(0, 1, "enable"), (1, 10000, "disable")] if two else [(0, 10000, "disable")]
    for i, (start, end, leftover) in enumerate(windows):
        sampler = "11" if two and i == 0 else "12"
        prompt[sampler] = {"class_type": "KSamplerAdvanced", "inputs": {
            "add_noise": "enable" if i == 0 else "disable", "noise_seed": 7, "steps": 2, "cfg": 1.0,
            "sampler_name": "euler", "scheduler": "simple", "start_at_step": start, "end_at_step": end,
            "return_with_leftover_noise": leftover, "model": [str(9 + i), 0], "positive": cond[0],
            "negative": cond[1], "latent_image": latent if i == 0 else ["11", 0]}}
    if not split and two:  # the second model samples on its own prompt: a second stage, not an expert
        prompt["15"] = {"class_type": "CLIPTextEncode", "inputs": {"text": "a fox, refined", "clip": ["4", 0]}}
        prompt["12"]["inputs"]["positive"] = ["15", 0]
        prompt["12"]["inputs"]["negative"] = ["15", 0]
    return prompt


SIZE = {"width": 32, "height": 32, "length": 5, "batch_size": 1}
I2V = {"class_type": "WanImageToVideo", "inputs": {**SIZE, "positive": ["5", 0], "negative": ["6", 0],
                                                   "vae": ["3", 0], "start_image": ["7", 0]}}
VACE = {"class_type": "WanVaceToVideo", "inputs": {**SIZE, "strength": 1.0, "positive": ["5", 0],
                                                   "negative": ["6", 0], "vae": ["3", 0],
                                                   "reference_image": ["7", 0]}}
FUN_CONTROL = {"class_type": "WanFunControlToVideo", "inputs": {**SIZE, "positive": ["5", 0], "negative": ["6", 0],
                                                                "vae": ["3", 0], "control_video": ["7", 0]}}
FUN_INP = {"class_type": "WanFunInpaintToVideo", "inputs": {**SIZE, "positive": ["5", 0], "negative": ["6", 0],
                                                            "vae": ["3", 0], "start_image": ["7", 0]}}
EMPTY = {"class_type": "EmptyHunyuanLatentVideo", "inputs": dict(SIZE)}
TI2V = {"class_type": "Wan22ImageToVideoLatent", "inputs": {**SIZE, "vae": ["3", 0], "start_image": ["7", 0]}}


def hints_of(prompt: dict) -> dict:
    graph = build(from_data(prompt, "standin.json"), default_registry())
    return standin_hints(graph, make_plan(graph))


def stand_in(prompt: dict, node_id: str, what: str = "transformer"):
    """The stand-in wfrun picks for that loader, with the workflow's hints."""
    node = prompt[node_id]
    input_name, folders = {"UNETLoader": ("unet_name", "diffusion_models"), "VAELoader": ("vae_name", "vae"),
                           "CheckpointLoaderSimple": ("ckpt_name", "checkpoints"),
                           "WanVideoModelLoader": ("model", "unet_gguf,diffusion_models"),
                           "DiffusionModelLoaderKJ": ("model_name", "diffusion_models")}[node["class_type"]]
    return family_for(node["class_type"], input_name, folders, node["inputs"][input_name],
                      hint=hints_of(prompt).get((node_id, what)))


@pytest.mark.parametrize("conditioning, task, marker", [
    (I2V, "i2v", "WanImageToVideo"),
    (VACE, "vace", "WanVaceToVideo"),
    (FUN_CONTROL, "fun-control", "WanFunControlToVideo"),
    (FUN_INP, "fun-inp", "WanFunInpaintToVideo"),
    (TI2V, "ti2v-5b", "Wan22ImageToVideoLatent"),
])
def test_a_silent_name_takes_the_task_of_the_conditioning_its_sampler_takes(conditioning, task, marker):
    prompt = core(["my_merge_v3.safetensors"], conditioning)
    standin = stand_in(prompt, "1")
    assert (standin.family.kind, standin.family.task) == ("wan_transformer", task)
    assert f"node 8 {marker}" in standin.notice  # the notice says where the task came from


def test_two_silent_experts_splitting_the_steps_of_one_prompt_are_wan22_a14b():
    prompt = core(["first.safetensors", "second.safetensors"], I2V)
    for node_id in ("1", "2"):
        standin = stand_in(prompt, node_id)
        assert standin.family.task == "i2v-a14b"
        assert "split the steps" in standin.notice
    # without the image conditioning they are the T2V experts
    prompt = core(["first.safetensors", "second.safetensors"], EMPTY)
    assert stand_in(prompt, "1").family.task == "t2v-a14b"


def test_a_second_stage_on_its_own_prompt_is_no_expert_and_high_low_names_are():
    prompt = core(["first.safetensors", "second.safetensors"], I2V, split=False)
    assert stand_in(prompt, "1").family.task == "i2v"  # two stages of two models, Wan 2.1 each
    prompt = core(["high.safetensors"], I2V)  # a merge named for its expert
    assert stand_in(prompt, "1").family.task == "i2v-a14b"
    prompt = core(["wan22_merge.safetensors"], I2V)
    assert stand_in(prompt, "1").family.task == "i2v-a14b"


def test_loaders_known_by_their_models_folder_take_hints_too():
    prompt = core(["first.safetensors", "second.safetensors"], I2V)
    for node_id in ("1", "2"):  # KJNodes' loader lists diffusion_models like UNETLoader
        prompt[node_id] = {"class_type": "DiffusionModelLoaderKJ", "inputs": {
            "model_name": prompt[node_id]["inputs"]["unet_name"], "weight_dtype": "default",
            "compute_dtype": "default", "patch_cublaslinear": False, "sage_attention": "disabled",
            "enable_fp16_accumulation": False}}
    assert [stand_in(prompt, n).family.task for n in ("1", "2")] == ["i2v-a14b", "i2v-a14b"]


def test_a_name_that_says_its_task_keeps_it():
    prompt = core(["wan2.1_t2v_1.3B_fp16.safetensors"], I2V)  # the workflow is wrong, not the name
    standin = stand_in(prompt, "1")
    assert standin.family.task == "t2v" and standin.notice is None
    prompt = core(["Wan2_1-FLF2V-14B-720P_fp8_e4m3fn.safetensors"], I2V)
    assert stand_in(prompt, "1").family.task == "flf2v"


def test_a_silent_vae_name_takes_wan22_from_a_5b_graph_and_a_named_one_keeps_its_version():
    prompt = core(["my_merge.safetensors"], TI2V, vae="vae.safetensors")
    standin = stand_in(prompt, "3", "vae")
    assert standin.family.task == "wan2.2" and "Wan22ImageToVideoLatent" in standin.notice
    prompt = core(["wan2.2_ti2v_5B_fp16.safetensors"], EMPTY, vae="my_vae.safetensors")
    standin = stand_in(prompt, "3", "vae")
    assert standin.family.task == "wan2.2" and "TI2V-5B" in standin.notice
    prompt = core(["my_merge.safetensors"], TI2V, vae="wan_2.1_vae.safetensors")
    assert stand_in(prompt, "3", "vae").family.task == ""  # Wan 2.1's, as named
    # and a Wan 2.2 VAE (named) makes a silent transformer a 5B one
    prompt = core(["my_merge.safetensors"], I2V, vae="wan2.2_vae.safetensors")
    assert stand_in(prompt, "1").family.task == "ti2v-5b"


def test_an_unnamed_checkpoint_sampled_by_wan_nodes_is_a_wan_all_in_one():
    prompt = core(["x.safetensors"], I2V)
    prompt["1"] = {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "TastyMix-LOW-v2.safetensors"}}
    standin = stand_in(prompt, "1")
    assert (standin.family.kind, standin.family.task) == ("wan_checkpoint", "i2v-a14b")
    # a checkpoint whose model reaches no Wan conditioning and whose name says nothing stays refused
    prompt = core(["x.safetensors"], EMPTY)
    prompt["1"] = {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "TastyMix-v2.safetensors"}}
    assert hints_of(prompt) == {}


def wrapper(name: str, conditioning: dict, *, module: bool = False) -> dict:
    """A wrapper API prompt: WanVideoModelLoader → WanVideoSampler fed by node 8's embeds."""
    prompt = {
        "1": {"class_type": "WanVideoModelLoader", "inputs": {
            "model": name, "base_precision": "bf16", "quantization": "disabled", "load_device": "main_device"}},
        "3": {"class_type": "WanVideoVAELoader", "inputs": {"model_name": "Wan2_1_VAE_bf16.safetensors"}},
        "7": {"class_type": "LoadImage", "inputs": {"image": "start.png"}},
        "8": conditioning,
        "12": {"class_type": "WanVideoSampler", "inputs": {"model": ["1", 0], "image_embeds": ["8", 0]}},
        "13": {"class_type": "WanVideoDecode", "inputs": {"vae": ["3", 0], "samples": ["12", 0]}},
        "14": {"class_type": "PreviewImage", "inputs": {"images": ["13", 0]}},
    }
    if module:
        prompt["2"] = {"class_type": "WanVideoVACEModelSelect", "inputs": {"vace_model": "my_vace_module.safetensors"}}
        prompt["1"]["inputs"]["extra_model"] = ["2", 0]
    return prompt


def test_wrapper_encodes_say_i2v_or_vace_but_a_separate_vace_module_leaves_the_model_t2v():
    i2v = {"class_type": "WanVideoImageToVideoEncode", "inputs": {"vae": ["3", 0], "start_image": ["7", 0]}}
    vace = {"class_type": "WanVideoVACEEncode", "inputs": {"vae": ["3", 0], "ref_images": ["7", 0]}}
    assert stand_in(wrapper("finetune.safetensors", i2v), "1").family.task == "i2v"
    assert stand_in(wrapper("finetune.safetensors", vace), "1").family.task == "vace"
    assert hints_of(wrapper("finetune.safetensors", vace, module=True)) == {}


def test_hints_apply_only_to_their_kind_and_to_silent_names():
    hint = TaskHint("transformer", "i2v", "node 8")
    assert family_for("UNETLoader", "unet_name", "diffusion_models", "wan2.1_t2v_1.3B_fp16.safetensors",
                      hint=hint).family.task == "t2v"
    assert family_for("VAELoader", "vae_name", "vae", "vae.safetensors", hint=hint).family.task == ""
    assert family_for("VAELoader", "vae_name", "vae", "Wan2_1_VAE_bf16.safetensors",
                      hint=TaskHint("vae", "wan2.2", "node 8")).family.task == ""


# --- end to end: --smoke runs what the default (T2V) stand-in could not ------------------------


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("wfrun-cache")


def smoke(prompt: dict, tmp_path: Path, cache: Path) -> dict:
    path = tmp_path / "workflow.json"
    path.write_text(json.dumps(prompt), encoding="utf-8")
    result = CliRunner().invoke(main, ["run", str(path), "--smoke", "-o", str(tmp_path / "out"), "--device", "cpu",
                                       "--format", "json"], env={"WFRUN_CACHE": str(cache)})
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def detected(report: dict, node_id: str) -> str:
    """What the run's loader detected in the stand-in file of that node."""
    return next(m["detected"] for m in report["models"] if m["node"] == node_id)


def test_smoke_runs_an_i2v_graph_whose_model_name_says_no_task(tmp_path, cache):
    report = smoke(core(["my_merge_v3.safetensors"], I2V), tmp_path, cache)
    line = next(s for s in report["standins"] if "my_merge_v3" in s)
    assert "Wan 2.1 image-to-video" in line and "node 8 WanImageToVideo" in line
    # what the loader found in the file: the 36-channel I2V patch embedding, with CLIP projection
    assert detected(report, "1").endswith("a Wan transformer (diffusion model), i2v, comfyui layout, bf16")
    assert any(p.endswith(".webp") for p in report["written"])


def test_smoke_runs_a14b_experts_whose_names_say_nothing(tmp_path, cache):
    report = smoke(core(["first.safetensors", "second.safetensors"], I2V), tmp_path, cache)
    lines = [s for s in report["standins"] if "first.safetensors" in s or "second.safetensors" in s]
    assert len(lines) == 2 and all("Wan 2.2 I2V A14B" in s for s in lines)
    assert all(", i2v-a14b," in detected(report, n) for n in ("1", "2"))  # 36 channels, no CLIP projection
    assert any(p.endswith(".webp") for p in report["written"])


def test_smoke_runs_the_wrapper_i2v_example_with_its_model_renamed(tmp_path, cache):
    """The pack's I2V example, its model renamed: the default T2V stand-in was refused at the
    sampler (T2V model, I2V embeds); the encode now makes it an I2V stand-in."""
    from run_helpers import CORPUS_WAN

    workflow = json.loads((CORPUS_WAN / "2025-06-13_ad43eed_wanvideo_480p_I2V_example_02.json").read_text("utf-8"))
    loader = next(n for n in workflow["nodes"] if n["type"] == "WanVideoModelLoader")
    loader["widgets_values"][0] = "WanVideo\\my_finetune.safetensors"
    path = tmp_path / "renamed.json"
    path.write_text(json.dumps(workflow), encoding="utf-8")
    result = CliRunner().invoke(main, ["run", str(path), "--smoke", "-o", str(tmp_path / "out"), "--device", "cpu",
                                       "--format", "json"], env={"WFRUN_CACHE": str(cache)})
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert ", i2v, original layout" in detected(report, str(loader["id"]))
    assert "WanVideoImageToVideoEncode" in next(s for s in report["standins"] if "my_finetune" in s)
