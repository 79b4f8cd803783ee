"""ComfyUI-QwenVL-Mod's prompt writers against transformers' own processor and generate, on
tiny random Qwen2.5-VL / Qwen3-VL folders written in the Hugging Face layout."""

from __future__ import annotations

import json

import pytest
import torch

from wfrun.models.paths import ModelRoots
from wfrun.models.qwenvl_tiny import write_tiny_qwenvl
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.qwenvl import nodes

PRESET = "my preset"
PRESET_TEXT = "Describe the picture in one line."


@pytest.fixture(scope="module", params=["qwen2_5_vl", "qwen3_vl"])
def models(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(request.param)
    name = "Qwen2.5-VL-3B-Instruct" if request.param == "qwen2_5_vl" else "Qwen3-VL-4B-Instruct"
    folder = write_tiny_qwenvl(root / "LLM" / "Qwen-VL" / name, kind=request.param, seed=3)
    (root / "LLM" / "Qwen-VL" / "AILab_System_Prompts.json").write_text(json.dumps(
        {"qwenvl": {PRESET: PRESET_TEXT}, "qwen_text": {"styles": {"s": {"system_prompt": "Rewrite:"}}}}))
    return root, name, folder, request.param


def reference(folder, kind, text, image, **generate_kwargs):
    """transformers' processor (built without its torchvision-only video part) and generate."""
    from transformers import AutoModelForImageTextToText, AutoTokenizer
    from transformers.models.qwen2_vl import Qwen2VLImageProcessorPil
    from transformers.processing_utils import ProcessorMixin

    cls = {"qwen2_5_vl": "Qwen2_5_VLProcessor", "qwen3_vl": "Qwen3VLProcessor"}[kind]
    import transformers

    original = ProcessorMixin.check_argument_for_proper_class
    ProcessorMixin.check_argument_for_proper_class = lambda self, name, arg: None
    try:
        processor = getattr(transformers, cls)(image_processor=Qwen2VLImageProcessorPil.from_pretrained(folder),
                                               tokenizer=AutoTokenizer.from_pretrained(folder), video_processor=None,
                                               chat_template=(folder / "chat_template.jinja").read_text())
    finally:
        ProcessorMixin.check_argument_for_proper_class = original
    model = AutoModelForImageTextToText.from_pretrained(folder, dtype=torch.float32).eval()
    content = ([{"type": "image", "image": image}] if image is not None else []) + [{"type": "text", "text": text}]
    chat = processor.apply_chat_template([{"role": "user", "content": content}], tokenize=False,
                                         add_generation_prompt=True)
    inputs = processor(text=chat, images=[image] if image is not None else None, return_tensors="pt")
    torch.manual_seed(generate_kwargs.pop("seed"))
    out = model.generate(**inputs, **generate_kwargs)
    tok = processor.tokenizer
    return tok.decode(out[0, inputs["input_ids"].shape[-1]:], skip_special_tokens=True).strip()


def ctx_for(root, date="2026-03-06"):
    return ExecContext(models=ModelRoots((root,)), saved_date=date)


def frame(seed=0):
    return torch.rand((1, 40, 56, 3), generator=torch.Generator().manual_seed(seed))


ADVANCED = dict(custom_prompt="a red car", max_tokens=12, temperature=0.6, top_p=0.9, repetition_penalty=1.2,
                frame_count=16, keep_model_loaded=False, seed=7, device="cpu", quantization="None (FP16)",
                keep_last_prompt=False)


@pytest.mark.parametrize("num_beams", [1, 2])
def test_advanced_matches_transformers(models, num_beams):
    root, name, folder, kind = models
    image = frame()
    (text,) = nodes.qwenvl_advanced(ctx_for(root), model_name=name, preset_prompt=PRESET, num_beams=num_beams,
                                    image=image, **ADVANCED)
    pil = nodes.to_pil(image[0])
    sampling = dict(do_sample=True, temperature=0.6, top_p=0.9) if num_beams == 1 else dict(do_sample=False)
    expected = reference(folder, kind, f"a red car\n\n{PRESET_TEXT}", pil, max_new_tokens=12, num_beams=num_beams,
                         repetition_penalty=1.2, seed=7, eos_token_id=[folder_eos(folder)],
                         pad_token_id=folder_pad(folder), **sampling)
    assert text == expected
    assert nodes.LAST_PROMPT["qwenvl"] == text


def folder_eos(folder):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder).eos_token_id


def folder_pad(folder):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder).pad_token_id


def test_template_first_before_2026_02_12_and_unknown_preset_is_its_name(models):
    root, name, folder, kind = models
    (text,) = nodes.qwenvl_advanced(ctx_for(root, "2026-02-01"), model_name=name, preset_prompt="not a preset",
                                    num_beams=2, image=None, **ADVANCED)
    expected = reference(folder, kind, "not a preset\n\na red car", None, max_new_tokens=12, num_beams=2,
                         repetition_penalty=1.2, seed=7, do_sample=False, eos_token_id=[folder_eos(folder)],
                         pad_token_id=folder_pad(folder))
    assert text == expected


def test_enhancer_vl_route(models):
    root, name, folder, kind = models
    (text,) = nodes.prompt_enhancer(ctx_for(root), model_name=name, quantization="None (FP16)", prompt_text=" a cat ",
                                    enhancement_style="missing", custom_system_prompt="", max_tokens=10,
                                    temperature=0.7, top_p=0.9, repetition_penalty=1.1, keep_model_loaded=True,
                                    seed=5, device="cpu", keep_last_prompt=False)
    expected = reference(folder, kind, "a cat\n\nRewrite:\n\n" + nodes.ENHANCER_PRESET, None, max_new_tokens=10,
                         num_beams=1, do_sample=True, temperature=0.7, top_p=0.9, repetition_penalty=1.1, seed=5,
                         eos_token_id=[folder_eos(folder)], pad_token_id=folder_pad(folder))
    assert text == expected
    (again,) = nodes.prompt_enhancer(ctx_for(root), model_name=name, quantization="None (FP16)", prompt_text="x",
                                     enhancement_style="s", custom_system_prompt="", max_tokens=10, temperature=0.7,
                                     top_p=0.9, repetition_penalty=1.1, keep_model_loaded=False, seed=5,
                                     device="cpu", keep_last_prompt=True)
    assert again == text


def test_missing_folder_and_prompts_and_bad_inputs(models, tmp_path):
    root, name, folder, kind = models
    with pytest.raises(NodeInputError) as err:
        nodes.qwenvl_advanced(ctx_for(root), model_name="Qwen3-VL-8B-Instruct-Abliterated", preset_prompt=PRESET,
                              num_beams=1, **ADVANCED)
    assert err.value.input_name == "model_name" and "Huihui-Qwen3-VL-8B-Instruct-abliterated" in err.value.hint
    with pytest.raises(NodeInputError) as err:
        nodes.qwenvl_advanced(ctx_for(tmp_path), model_name=name, preset_prompt=PRESET, num_beams=1, **ADVANCED)
    assert err.value.input_name == "preset_prompt" and "AILab_System_Prompts.json" in err.value.hint
    with pytest.raises(NodeInputError) as err:
        nodes.qwenvl_advanced(ctx_for(root), model_name=name, preset_prompt=PRESET, num_beams=1,
                              image=torch.zeros(3, 4), **ADVANCED)
    assert err.value.input_name == "image"
    with pytest.raises(NodeInputError) as err:
        nodes.qwenvl_advanced(ctx_for(root), model_name=name, preset_prompt=PRESET, num_beams=1,
                              **{**ADVANCED, "quantization": "8-bit (Balanced)"})
    assert err.value.input_name == "quantization"
