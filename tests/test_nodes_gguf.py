"""ComfyUI-GGUF's loaders in wfrun: the MODEL they give is the one ComfyUI's core samplers and
patch nodes take, with the same results as the same weights dequantized into a plain file,
and ComfyUI's own Wan text-to-video template runs end to end with its loaders swapped for
ComfyUI-GGUF's (``--tiny-models --smoke``).

The references are built with the ``gguf`` package alone (``GGUFReader`` +
``gguf.quants.dequantize``), rounded to fp16 where diffusers' GGUF layers dequantize in fp16
(see tests/test_models_gguf.py: for Q8_0/Q4_0 that rounding is exactly what the layer
computes), and loaded by ComfyUI's core loaders (UNETLoader, CLIPLoader). So equal outputs
are the expected result, not a tolerance.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import save_file

from tests.gguf_reference import dequantized, t5_name, sample as gguf_sample
from tests.node_helpers import node
from wfrun.cli import main
from wfrun.models.handles import CoreModel
from wfrun.models.paths import ModelRoots
from wfrun.models.standins import family_for, write_standins
from wfrun.models.tiny_gguf import write_umt5_gguf, write_wan_gguf
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.specs.registry import default_registry

GGUF_VER = "795e45156ece99afbc3efef911e63fcb46e6a20d"  # ComfyUI-GGUF HEAD the specs were read at
UNET = "wan2.1-t2v-14b-Q4_0.gguf"
CLIP = "umt5-xxl-encoder-Q8_0.gguf"


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    """A models folder: the GGUF files and, beside them, their dequantized references."""
    root = tmp_path_factory.mktemp("models")
    unet = write_wan_gguf(root / "diffusion_models" / UNET, "t2v", "Q4_0", seed=11)
    save_file(dequantized(unet), str(root / "diffusion_models" / "reference.safetensors"),
              metadata={"wfrun.num_heads": "2"})
    clip = write_umt5_gguf(root / "text_encoders" / CLIP, "Q8_0", seed=12)
    save_file({k: v.to(torch.bfloat16) for k, v in dequantized(clip, t5_name).items()},
              str(root / "text_encoders" / "umt5_xxl_reference_bf16.safetensors"))
    return root


@pytest.fixture(scope="module")
def ctx(models, tiny_models) -> ExecContext:
    # the tiny models folder holds the UMT5 tokenizer (text_encoders/umt5-xxl/), which GGUF files lack
    return ExecContext(models=ModelRoots((models, Path(tiny_models))))


def sample(ctx: ExecContext, model: CoreModel, cond) -> torch.Tensor:
    return gguf_sample(ctx, model, cond, seed=3, cfg=4.0)


@pytest.fixture(scope="module")
def cond(ctx):
    (clip,) = node("CLIPLoader")(ctx, clip_name="umt5_xxl_reference_bf16.safetensors", type="wan")
    return node("CLIPTextEncode")(ctx, text="a fox in the snow", clip=clip)[0]


def test_unet_loader_gguf_gives_the_model_the_core_ksampler_takes(ctx, cond):
    from diffusers.quantizers.gguf.utils import GGUFLinear

    (model,) = node("UnetLoaderGGUF")(ctx, unet_name=UNET)
    assert isinstance(model, CoreModel) and model.task == "t2v" and model.latent_channels == 16
    assert isinstance(model.transformer.blocks[0].attn1.to_q, GGUFLinear)
    (shifted,) = node("ModelSamplingSD3")(ctx, model=model, shift=5.0)
    (plain,) = node("UNETLoader")(ctx, unet_name="reference.safetensors", weight_dtype="default")
    (plain_shifted,) = node("ModelSamplingSD3")(ctx, model=plain, shift=5.0)
    assert torch.equal(sample(ctx, shifted, cond), sample(ctx, plain_shifted, cond))


def test_a_lora_on_the_gguf_model_samples_as_on_the_plain_one(ctx, cond, models, tiny_models):
    from wfrun.models.tiny import lora_weights

    (models / "loras").mkdir(exist_ok=True)
    save_file(lora_weights(21), str(models / "loras" / "lightx2v_tiny.safetensors"))
    results = []
    for loader, name in (("UnetLoaderGGUF", {"unet_name": UNET}),
                         ("UNETLoader", {"unet_name": "reference.safetensors", "weight_dtype": "default"})):
        (model,) = node(loader)(ctx, **name)
        before = model.transformer.blocks[0].attn1.to_q.weight
        (patched,) = node("LoraLoaderModelOnly")(ctx, model=model, lora_name="lightx2v_tiny.safetensors",
                                                 strength_model=0.7)
        results.append(sample(ctx, patched, cond))
        if loader == "UnetLoaderGGUF":  # quantized weights are never kept merged (they would stay dequantized)
            assert model.transformer.blocks[0].attn1.to_q.weight is before
        else:  # kept for the next pass with this LoRA, as ComfyUI keeps patched weights
            assert model.transformer.blocks[0].attn1.to_q.weight is not before
            sample(ctx, model, cond)  # a pass without the LoRA puts the loaded weights back
            assert model.transformer.blocks[0].attn1.to_q.weight is before
    assert torch.equal(*results)
    (model,) = node("UnetLoaderGGUF")(ctx, unet_name=UNET)
    assert not torch.equal(sample(ctx, model, cond), results[0])  # the LoRA did change the result


def test_a_second_pass_with_the_same_lora_merges_nothing_and_samples_the_same(ctx, cond, models, tiny_models,
                                                                              monkeypatch):
    from wfrun.models import lora_files
    from wfrun.models.tiny import lora_weights

    (models / "loras").mkdir(exist_ok=True)
    save_file(lora_weights(22), str(models / "loras" / "kept_tiny.safetensors"))
    merges = []
    layers = lora_files.lora_layers
    monkeypatch.setattr(lora_files, "lora_layers", lambda *a, **k: merges.append(a[1].name) or layers(*a, **k))
    (model,) = node("UNETLoader")(ctx, unet_name="reference.safetensors", weight_dtype="default")
    (patched,) = node("LoraLoaderModelOnly")(ctx, model=model, lora_name="kept_tiny.safetensors", strength_model=0.7)
    first, second = sample(ctx, patched, cond), sample(ctx, patched, cond)
    assert merges == ["kept_tiny.safetensors"] and torch.equal(first, second)
    lora_files.unmerge(model.transformer)
    assert torch.equal(sample(ctx, patched, cond), first) and len(merges) == 2  # merged afresh: the same numbers


def test_the_advanced_loader_dequantizes_in_the_dtype_asked(ctx, cond):
    (default,) = node("UnetLoaderGGUFAdvanced")(ctx, unet_name=UNET)
    (fp32,) = node("UnetLoaderGGUFAdvanced")(ctx, unet_name=UNET, dequant_dtype="float32", patch_dtype="bfloat16",
                                             patch_on_device=True)
    (plain,) = node("UnetLoaderGGUF")(ctx, unet_name=UNET)
    assert torch.equal(sample(ctx, default, cond), sample(ctx, plain, cond))
    assert not torch.equal(sample(ctx, fp32, cond), sample(ctx, plain, cond))  # exact, not fp16-rounded weights
    with pytest.raises(NodeInputError) as err:
        node("UnetLoaderGGUFAdvanced")(ctx, unet_name=UNET, dequant_dtype="float64")
    assert err.value.input_name == "dequant_dtype"


def test_kjnodes_gguf_loader_is_the_gguf_loader_with_its_options(ctx, cond, models):
    """KJNodes' GGUFLoaderKJ loads as ComfyUI-GGUF's loaders (the pack calls their
    ``gguf_sd_loader`` and ``GGMLOps``): the same samples at the same dequant dtype; its
    run-time options land on the MODEL; an extra GGUF module (VACE) is laid over the model."""
    from wfrun.models.tiny_gguf import write_vace_module_gguf

    (plain,) = node("UnetLoaderGGUF")(ctx, unet_name=UNET)
    (kj,) = node("GGUFLoaderKJ")(ctx, model_name=UNET)
    assert kj.task == "t2v" and (kj.attention, kj.fp16_accumulation) == (plain.attention, plain.fp16_accumulation)
    assert torch.equal(sample(ctx, kj, cond), sample(ctx, plain, cond))
    (kj32,) = node("GGUFLoaderKJ")(ctx, model_name=UNET, dequant_dtype="float32", patch_dtype="bfloat16",
                                   patch_on_device=True, enable_fp16_accumulation=True, attention_override="sageattn")
    (adv32,) = node("UnetLoaderGGUFAdvanced")(ctx, unet_name=UNET, dequant_dtype="float32")
    assert torch.equal(sample(ctx, kj32, cond), sample(ctx, adv32, cond))
    assert kj32.fp16_accumulation and kj32.attention == "native"  # no SageAttention on the CPU: SDPA, with a notice
    write_vace_module_gguf(models / "diffusion_models" / "vace_module_tiny-Q8_0.gguf", "Q8_0", seed=13)
    (vace,) = node("GGUFLoaderKJ")(ctx, model_name=UNET, extra_model_name="vace_module_tiny-Q8_0.gguf")
    assert vace.task == "vace" and hasattr(vace.transformer, "vace_blocks")
    for name, value, needle in (("extra_model_name", "vace_module.safetensors", ".gguf"),
                                ("dequant_dtype", "float64", "dequant_dtype"),
                                ("attention_override", "flex", "attention_override")):
        with pytest.raises(NodeInputError, match=needle) as err:
            node("GGUFLoaderKJ")(ctx, model_name=UNET, **{name: value})
        assert err.value.input_name == name


def test_clip_loader_gguf_encodes_as_clip_loader_on_the_same_weights(ctx):
    from diffusers.quantizers.gguf.utils import GGUFLinear

    (gguf_clip,) = node("CLIPLoaderGGUF")(ctx, clip_name=CLIP, type="wan")
    assert isinstance(gguf_clip.encoder.encoder.block[0].layer[0].SelfAttention.q, GGUFLinear)
    (plain,) = node("CLIPLoader")(ctx, clip_name="umt5_xxl_reference_bf16.safetensors", type="wan")
    (a,) = node("CLIPTextEncode")(ctx, text="a red fox runs across the snow at dawn", clip=gguf_clip)
    (b,) = node("CLIPTextEncode")(ctx, text="a red fox runs across the snow at dawn", clip=plain)
    assert torch.equal(a[0][0], b[0][0])
    # the pack's CLIPLoaderGGUF lists every text encoder file: safetensors ones load as CLIPLoader's
    (also,) = node("CLIPLoaderGGUF")(ctx, clip_name="umt5_xxl_reference_bf16.safetensors", type="wan")
    assert torch.equal(node("CLIPTextEncode")(ctx, text="a fox", clip=also)[0][0][0],
                       node("CLIPTextEncode")(ctx, text="a fox", clip=plain)[0][0][0])
    with pytest.raises(NodeInputError) as err:
        node("CLIPLoaderGGUF")(ctx, clip_name=CLIP, type="flux")
    assert err.value.input_name == "type"


@pytest.mark.parametrize("name,needle", [
    ("reference.safetensors", "not a GGUF file"),
    ("../text_encoders/" + CLIP, None),
])
def test_the_wrong_file_is_one_clear_input_error(ctx, name, needle):
    with pytest.raises(NodeInputError) as err:
        node("UnetLoaderGGUF")(ctx, unet_name=name)
    assert err.value.input_name == "unet_name" and "\n" not in str(err.value)
    if needle:
        assert needle in str(err.value)


def test_a_text_encoder_gguf_in_the_unet_loader_is_named_for_what_it_is(ctx, models):
    (models / "diffusion_models" / "misplaced-Q8_0.gguf").write_bytes((models / "text_encoders" / CLIP).read_bytes())
    with pytest.raises(NodeInputError) as err:
        node("UnetLoaderGGUF")(ctx, unet_name="misplaced-Q8_0.gguf")
    assert "UMT5-XXL text encoder" in str(err.value) and "misplaced-Q8_0.gguf" in str(err.value)


def test_a_truncated_gguf_is_one_error_naming_the_file(ctx, models):
    data = (models / "diffusion_models" / UNET).read_bytes()
    cut = models / "diffusion_models" / "cut-Q4_0.gguf"
    cut.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(NodeInputError) as err:
        node("UnetLoaderGGUF")(ctx, unet_name="cut-Q4_0.gguf")
    assert str(cut) in str(err.value) and "truncated" in str(err.value) and "\n" not in str(err.value)


# --- the specs ------------------------------------------------------------------------------


def test_the_pack_specs_come_from_its_history_and_record_the_source():
    registry = default_registry()
    spec = registry.get("UnetLoaderGGUF")
    assert spec.pack == "ComfyUI-GGUF"
    assert [s.input("unet_name").options_from for s in spec.signatures] == ["unet", "unet_gguf"]
    advanced = registry.get("UnetLoaderGGUFAdvanced").latest
    assert [i.name for i in advanced.inputs] == ["unet_name", "dequant_dtype", "patch_dtype", "patch_on_device"]
    data = json.loads((Path(__file__).resolve().parents[1] / "schemas" / "nodes" / "ComfyUI-GGUF.json").read_text())
    assert data["cnr_id"] == "comfyui-gguf"
    assert data["source"]["repo"] == "city96/ComfyUI-GGUF" and data["source"]["rev"] == GGUF_VER
    assert {"CLIPLoaderGGUF", "DualCLIPLoaderGGUF", "TripleCLIPLoaderGGUF", "QuadrupleCLIPLoaderGGUF"} <= set(
        data["nodes"])


# --- stand-ins and whole runs ---------------------------------------------------------------


@pytest.mark.parametrize("class_type,input_name,folders,name,expected", [
    ("UnetLoaderGGUF", "unet_name", "unet_gguf", "wan2.1-i2v-14b-480p-Q4_K_M.gguf", ("wan_transformer", "i2v", "q4_0")),
    ("UnetLoaderGGUF", "unet_name", "unet_gguf", "Wan2.2-T2V-A14B-LowNoise-Q8_0.gguf",
     ("wan_transformer", "t2v-a14b", "q8_0")),
    ("CLIPLoaderGGUF", "clip_name", "clip,clip_gguf", CLIP, ("umt5", "", "q8_0")),
])
def test_gguf_stand_ins_are_gguf_files_of_the_family_their_name_says(class_type, input_name, folders, name, expected,
                                                                    tmp_path, tiny_models):
    from wfrun.models.load_gguf import gguf_info

    standin = family_for(class_type, input_name, folders, name)
    root = write_standins([standin], tiny_models, tmp_path)
    info = gguf_info(root / standin.relpath)
    assert (info.kind, info.task, info.dtype) == expected
    assert standin.folder in ("diffusion_models", "text_encoders")  # the folders ComfyUI-GGUF's keys list


def gguf_template(tmp_path: Path, lora: bool = False) -> Path:
    """ComfyUI's Wan 2.1 text-to-video template with ComfyUI-GGUF's loaders (and a LoRA)."""
    template = resources.files("comfyui_workflow_templates_json") / "templates" / "text_to_video_wan.json"
    data = json.loads(template.read_text(encoding="utf-8"))
    for n in data["nodes"]:
        if n["type"] in ("UNETLoader", "CLIPLoader"):
            kind = "UnetLoaderGGUF" if n["type"] == "UNETLoader" else "CLIPLoaderGGUF"
            n["type"] = kind
            n["widgets_values"] = ["wan2.1-t2v-14b-Q4_K_M.gguf"] if kind == "UnetLoaderGGUF" else [CLIP, "wan"]
            n["properties"] = {"cnr_id": "comfyui-gguf", "ver": GGUF_VER, "Node name for S&R": kind}
    if lora:  # UnetLoaderGGUF → LoraLoaderModelOnly → ModelSamplingSD3
        unet = next(n for n in data["nodes"] if n["type"] == "UnetLoaderGGUF")
        link = next(l for l in data["links"] if l[1] == unet["id"])
        new_id, node_id = data["last_link_id"] + 1, data["last_node_id"] + 1
        data["nodes"].append({
            "id": node_id, "type": "LoraLoaderModelOnly", "pos": [300, 40], "size": [300, 82], "flags": {},
            "order": 3, "mode": 0, "inputs": [{"name": "model", "type": "MODEL", "link": new_id}],
            "outputs": [{"name": "MODEL", "type": "MODEL", "slot_index": 0, "links": [link[0]]}],
            "properties": {"Node name for S&R": "LoraLoaderModelOnly"},
            "widgets_values": ["wan2.1_t2v_lightx2v_cfg_step_distill_lora_rank32.safetensors", 0.8]})
        data["links"].append([new_id, unet["id"], 0, node_id, 0, "MODEL"])
        link[1] = node_id
        unet["outputs"][0]["links"] = [new_id]
        data["last_link_id"], data["last_node_id"] = new_id, node_id
    path = tmp_path / "text_to_video_wan_gguf.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize("lora", [False, True], ids=["plain", "lora"])
def test_the_t2v_template_with_gguf_loaders_runs_end_to_end(tmp_path, lora):
    path = gguf_template(tmp_path, lora)
    result = CliRunner().invoke(main, ["run", str(path), "--tiny-models", "--smoke", "-o", str(tmp_path / "out"),
                                       "--device", "cpu", "--format", "json"],
                                env={"WFRUN_CACHE": str(tmp_path / "cache")})
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [Path(p).suffix for p in report["written"]] == [".mp4"]
    standins = "\n".join(report["standins"])
    assert "GGUF Q4_K, stored as Q4_0" in standins and "GGUF Q8_0" in standins


def test_the_dry_run_names_a_broken_gguf_before_anything_loads(tmp_path, models):
    path = gguf_template(tmp_path)
    folder = tmp_path / "models" / "diffusion_models"
    folder.mkdir(parents=True)
    data = (models / "diffusion_models" / UNET).read_bytes()
    (folder / "wan2.1-t2v-14b-Q4_K_M.gguf").write_bytes(data[:100])
    result = CliRunner().invoke(main, ["run", str(path), "--dry-run", "--models", str(tmp_path / "models"),
                                       "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 1 and "Traceback" not in result.output
    problems = [d for d in json.loads(result.stdout)["diagnostics"] if d["code"] == "bad-model-file"]
    assert len(problems) == 1 and problems[0]["node_id"] in ("37", 37) and problems[0]["input"] == "unet_name"
    assert "truncated" in problems[0]["message"] and str(folder / "wan2.1-t2v-14b-Q4_K_M.gguf") in problems[0]["message"]
