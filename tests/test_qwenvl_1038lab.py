"""1038lab's ComfyUI-QwenVL nodes against the pack's behaviour, computed here by hand
(custom prompt replacing the preset, where the preset texts come from, the early
signatures' preset names and doubled single frame, the enhancer's instruction-first join and
its two routes) and transformers' own processor and generate on tiny random folders."""

from __future__ import annotations

import json

import pytest
import torch

from tests.test_qwenvl_nodes import folder_eos, folder_pad, frame, reference
from wfrun.models.paths import ModelRoots
from wfrun.models.qwenvl_tiny import tiny_tokenizer, write_tiny_qwenvl
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.qwenvl import nodes_1038lab as lab
from wfrun.packs.qwenvl.common import to_pil

PRESET = "\U0001f5bc\ufe0f Detailed Description"
NEW_TEXT, OLD_TEXT = "Describe it in one line.", "An older text."
STYLE_TEXT = "Rewrite:"


@pytest.fixture(scope="module", params=["qwen2_5_vl", "qwen3_vl"])
def models(request, tmp_path_factory):
    base = tmp_path_factory.mktemp(request.param)
    root = base / "models"
    name = "Qwen2.5-VL-3B-Instruct" if request.param == "qwen2_5_vl" else "Qwen3-VL-2B-Instruct"
    folder = write_tiny_qwenvl(root / "LLM" / "Qwen-VL" / name, kind=request.param, seed=5)
    install = base / "custom_nodes" / "ComfyUI-QwenVL"  # the user's install, beside the models folder
    install.mkdir(parents=True)
    (install / "hf_models.json").write_text(json.dumps({"_system_prompts": {PRESET: OLD_TEXT}}))
    (install / "AILab_System_Prompts.json").write_text(json.dumps(
        {"qwenvl": {PRESET: NEW_TEXT}, "qwen_text": {"styles": {"a": {"system_prompt": "First:"},
                                                                "b": {"system_prompt": STYLE_TEXT}}}}))
    return root, name, folder, request.param, install


def ctx_for(root, date="2026-02-06"):
    return ExecContext(models=ModelRoots((root,)), saved_date=date)


ADVANCED = dict(quantization="None (FP16)", max_tokens=12, temperature=0.6, top_p=0.9, repetition_penalty=1.2,
                frame_count=16, keep_model_loaded=False, seed=7, device="cpu")


def expected(folder, kind, text, image, num_beams=1, **over):
    settings = dict(max_new_tokens=12, num_beams=num_beams, repetition_penalty=1.2, seed=7,
                    eos_token_id=[folder_eos(folder)], pad_token_id=folder_pad(folder))
    settings.update(dict(do_sample=True, temperature=0.6, top_p=0.9) if num_beams == 1 else dict(do_sample=False))
    settings.update(over)
    return reference(folder, kind, text, image, **settings)


@pytest.mark.parametrize("num_beams", [1, 2])
def test_custom_prompt_replaces_the_preset(models, num_beams):
    root, name, folder, kind, _ = models
    image = frame(1)
    (text,) = lab.qwenvl_advanced(ctx_for(root), model_name=name, preset_prompt=PRESET, custom_prompt="  a red car ",
                                  num_beams=num_beams, image=image, **ADVANCED)
    assert text == expected(folder, kind, "a red car", to_pil(image[0]), num_beams)


def test_preset_text_from_the_install(models):
    root, name, folder, kind, install = models
    (text,) = lab.qwenvl_advanced(ctx_for(root), model_name=name, preset_prompt=PRESET, custom_prompt=" ",
                                  num_beams=2, **ADVANCED)
    assert text == expected(folder, kind, NEW_TEXT, None, 2)
    (unknown,) = lab.qwenvl_advanced(ctx_for(root), model_name=name, preset_prompt="not a preset", custom_prompt="",
                                     num_beams=2, **ADVANCED)
    assert unknown == expected(folder, kind, "not a preset", None, 2)


def test_older_install_and_older_signatures(models, tmp_path):
    root, name, folder, kind, install = models
    # a copy of an install of before December 2025: the texts in config.json's _system_prompts
    old = root / "LLM" / "Qwen-VL" / "ComfyUI-QwenVL"
    old.mkdir()
    try:
        (old / "config.json").write_text(json.dumps({"_system_prompts": {PRESET: OLD_TEXT}}))
        (text,) = lab.qwenvl_advanced(ctx_for(root), model_name=name, preset_prompt=PRESET, custom_prompt="",
                                      num_beams=2, **ADVANCED)
        assert text == expected(folder, kind, OLD_TEXT, None, 2)
    finally:
        (old / "config.json").unlink()
        old.rmdir()
    # saved before 2025-10-21: the preset's name is the prompt, whatever the files hold
    (early,) = lab.qwenvl_advanced(ctx_for(root, "2025-10-17"), model_name=name, preset_prompt=PRESET,
                                   custom_prompt="", num_beams=2, **ADVANCED)
    assert early == expected(folder, kind, PRESET, None, 2)


def test_simple_node_is_the_advanced_one_with_fixed_settings(models):
    root, name, folder, kind, _ = models
    image = frame(2)
    (text,) = lab.qwenvl(ctx_for(root), model_name=name, quantization="None (FP16)", attention_mode="sdpa",
                         preset_prompt=PRESET, custom_prompt="a dog", max_tokens=12, keep_model_loaded=True, seed=7,
                         image=image)
    assert text == expected(folder, kind, "a dog", to_pil(image[0]))
    assert lab._LOADED.parts is not None  # kept for the next node
    lab._LOADED.clear()


def test_single_frame_video_before_and_after_november_2025(models):
    root, name, folder, kind, _ = models
    one = torch.rand((1, 64, 64, 3), generator=torch.Generator().manual_seed(3))
    args = dict(model_name=name, preset_prompt=PRESET, custom_prompt="what moves?", num_beams=2, **ADVANCED)
    (early,) = lab.qwenvl_advanced(ctx_for(root, "2025-10-21"), video=one, **args)
    (doubled,) = lab.qwenvl_advanced(ctx_for(root), video=one.repeat(2, 1, 1, 1), **args)
    assert early == doubled
    if kind == "qwen3_vl":  # the later pack sends the one frame, which Qwen3-VL's processor refuses
        with pytest.raises(NodeInputError) as err:
            lab.qwenvl_advanced(ctx_for(root), video=one, **args)
        assert err.value.input_name == "video"


def test_refusals(models, tmp_path):
    root, name, folder, kind, _ = models
    bare = tmp_path / "models"
    write_tiny_qwenvl(bare / "LLM" / "Qwen-VL" / folder.name, kind=kind, seed=5)
    with pytest.raises(NodeInputError) as err:
        lab.qwenvl_advanced(ctx_for(bare), model_name=name, preset_prompt=PRESET, custom_prompt="", num_beams=1,
                            **ADVANCED)
    assert err.value.input_name == "preset_prompt" and "ComfyUI-QwenVL" in err.value.hint
    with pytest.raises(NodeInputError) as err:
        lab.qwenvl_advanced(ctx_for(root), model_name="Qwen3-VL-4B-Thinking-abliterated (NSFW)",
                            preset_prompt=PRESET, custom_prompt="x", num_beams=1, **ADVANCED)
    assert err.value.input_name == "model_name" and "prithivMLmods/Qwen3-VL-4B-Thinking-abliterated" in err.value.hint
    with pytest.raises(NodeInputError) as err:
        lab.qwenvl_advanced(ctx_for(root), model_name=name, preset_prompt=PRESET, custom_prompt="x", num_beams=1,
                            **{**ADVANCED, "quantization": "8-bit (Balanced)"})
    assert err.value.input_name == "quantization"


ENHANCER = dict(quantization="None (FP16)", attention_mode="auto", use_torch_compile=False, device="cpu",
                max_tokens=10, temperature=0.7, top_p=0.9, repetition_penalty=1.1, keep_model_loaded=False, seed=5)


def test_enhancer_vl_route(models):
    root, name, folder, kind, _ = models
    (text,) = lab.prompt_enhancer(ctx_for(root), model_name=name, prompt_text=" a cat ", enhancement_style="b",
                                  custom_system_prompt="", **ENHANCER)
    settings = dict(max_new_tokens=10, temperature=0.7, top_p=0.9, repetition_penalty=1.1, seed=5)
    assert text == expected(folder, kind, f"{STYLE_TEXT}\n\na cat", None, **settings)
    (own,) = lab.prompt_enhancer(ctx_for(root), model_name=name, prompt_text="", enhancement_style="missing",
                                 custom_system_prompt=" Shorten: ", **ENHANCER)
    assert own == expected(folder, kind, "Shorten:\n\n" + lab.EMPTY_PROMPT, None, **settings)
    (first,) = lab.prompt_enhancer(ctx_for(root), model_name=name, prompt_text="x", enhancement_style="missing",
                                   custom_system_prompt="", **ENHANCER)
    assert first == expected(folder, kind, "First:\n\nx", None, **settings)


def write_tiny_text_model(folder):
    """A tiny Qwen3 text model with the tiny byte-level tokenizer (the pack's text list holds
    Qwen3 models)."""
    from transformers import Qwen3Config, Qwen3ForCausalLM

    tok = tiny_tokenizer()
    config = Qwen3Config(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=512,
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, tie_word_embeddings=False)
    torch.manual_seed(11)
    Qwen3ForCausalLM(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def test_enhancer_text_route_sends_the_raw_prompt(models):
    root, name, folder, kind, _ = models
    from transformers import AutoModelForCausalLM, AutoTokenizer

    text_folder = write_tiny_text_model(root / "LLM" / "Qwen-VL" / "Qwen3-0.6B")
    (text,) = lab.prompt_enhancer(ctx_for(root), model_name="Qwen3-0.6B", prompt_text="a cat", enhancement_style="b",
                                  custom_system_prompt="", **ENHANCER)
    tok = AutoTokenizer.from_pretrained(text_folder)
    model = AutoModelForCausalLM.from_pretrained(text_folder, dtype=torch.float32).eval()
    prompt = f"{STYLE_TEXT}\n\na cat"
    inputs = tok(prompt, return_tensors="pt")
    torch.manual_seed(5)
    out = model.generate(**inputs, max_new_tokens=10, repetition_penalty=1.1, do_sample=True, temperature=0.7,
                         top_p=0.9, eos_token_id=tok.eos_token_id, pad_token_id=tok.eos_token_id)
    decoded = tok.decode(out[0], skip_special_tokens=True)
    assert text == decoded[len(tok.decode(inputs["input_ids"][0], skip_special_tokens=True)):].strip()
    assert text  # ten random tokens, not all special
    with pytest.raises(NodeInputError) as err:  # a VL folder under a text model's name
        import shutil

        shutil.rmtree(text_folder)
        shutil.copytree(folder, text_folder)
        lab.prompt_enhancer(ctx_for(root), model_name="Qwen3-0.6B", prompt_text="a cat", enhancement_style="b",
                            custom_system_prompt="", **ENHANCER)
    assert err.value.input_name == "model_name"


def test_unmarked_nodes_are_1038labs_and_the_forks_say_so():
    from wfrun.engine.executors import executor_info
    from wfrun.specs.registry import default_registry

    registry = default_registry()
    for class_type in ("AILab_QwenVL", "AILab_QwenVL_Advanced", "AILab_QwenVL_PromptEnhancer"):
        for properties, pack, module in ((None, "ComfyUI-QwenVL", lab.__name__),
                                         ({"cnr_id": "comfyui-qwenvl"}, "ComfyUI-QwenVL", lab.__name__),
                                         ({"aux_id": "1038lab/ComfyUI-QwenVL"}, "ComfyUI-QwenVL", lab.__name__),
                                         ({"aux_id": "huchukato/ComfyUI-QwenVL-Mod"}, "ComfyUI-QwenVL-Mod",
                                          "wfrun.packs.qwenvl.nodes")):
            spec = registry.get(class_type, properties)
            assert spec.pack == pack
            assert executor_info(class_type, spec).fn.__module__ == module
    # the fork's own node that the original lacks stays the fork's default
    assert registry.get("VRAMCleanup").pack == "ComfyUI-QwenVL-Mod"
