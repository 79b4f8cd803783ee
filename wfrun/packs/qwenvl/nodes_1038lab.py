"""``AILab_QwenVL``, ``AILab_QwenVL_Advanced`` and ``AILab_QwenVL_PromptEnhancer`` of
1038lab's ComfyUI-QwenVL (October 2025 to August 2026), on transformers; the loading, input
building and generate steps are shared with the fork's executors (``common``).

What the pack does, and wfrun with it:

- The model name maps to a repository (``models/configs/qwenvl_1038lab_models.json``, the
  pack's lists as data); its folder ``<models>/LLM/Qwen-VL/<repo's last part>`` is loaded
  with transformers' class for its ``model_type``.
- ``torch.manual_seed(seed)`` comes first, before the model loads.
- The prompt: a non-empty ``custom_prompt`` (stripped) *replaces* the preset. Otherwise the
  preset's text from the pack's files (``_system_prompts`` of ``config.json`` /
  ``hf_models.json``, replaced by ``AILab_System_Prompts.json``'s ``qwenvl`` when that is
  not empty; a preset missing from them is sent as its own name). Files saved with the
  signatures of before 2025-10-21 send the preset's name itself: the pack had no texts yet.
- The user turn holds the image (first frame), then the video frames as one video (at most
  ``frame_count``, picked with ``linspace``; before 2025-11-11 a single frame was sent
  twice), then the text; ``num_beams == 1`` samples with temperature and top_p, more beams
  search; the reply is decoded without special tokens and stripped. ``AILab_QwenVL`` is the
  Advanced node with 16 frames, temperature 0.6, top_p 0.9, one beam, repetition 1.2.
- The Prompt Enhancer joins the instruction (``custom_system_prompt``, else the style's
  ``system_prompt`` from ``AILab_System_Prompts.json``'s ``qwen_text.styles``, else its
  first style) and the prompt (or "Describe a scene vividly.") by a blank line, instruction
  first. A model of the pack's text list gets that raw text (no chat template) and answers
  what follows it; any other goes through the VL route as the custom prompt (which replaces
  the "Prompt Refine & Expand" preset it names).

Differences, said rather than hidden: wfrun never downloads (a missing folder is an error
saying where to put it; the pack fetches text models into the Hugging Face cache, wfrun
looks for them in ``LLM/Qwen-VL`` too, and a name outside the pack's lists is taken as a
folder name, as the pack's ``custom_models.json`` would add it); the pack's texts are never
shipped: they are read from the user's install, ``<models>/../custom_nodes/ComfyUI-QwenVL/``
(or ``comfyui-qwenvl``, the registry's name) or a copy in
``<models>/LLM/Qwen-VL/ComfyUI-QwenVL/``, and a preset or style that needs them without
them is refused; attention is PyTorch's SDPA whatever ``attention_mode`` says and
``use_torch_compile`` is ignored; weights are fp16 on a GPU (the pack's dtype), fp32 on the
CPU (the pack before 2025-11-11 used fp16 there too); 4/8-bit bitsandbytes is refused
(pre-quantized models, which the pack loads without it, are not), and the pack's automatic
drop to 8 or 4 bit when free memory looks short is not made; an IMAGE's fourth channel is
dropped (the pack's processor would blend it on white); where the pack of before 2025-11-11
returned an error as the node's text, wfrun stops with the error. The August 2026 pack
(after 2026-08-20) sends text models the prompt through their chat template, but keeps the
signature of February 2026, so a file does not say which: wfrun sends the raw prompt, as
the pack did from December 2025 to August 2026.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from wfrun.models.qwenvl import QwenParts, model_table
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.qwenvl.common import (PROMPTS_FILE, ModelCache, check_image, find_folder, generate, generate_text,
                                       llm_folder, load, missing_texts, pack_dirs, pick_frames, read_pack_json)

PACK = "ComfyUI-QwenVL"
#: The pack's folder in ``custom_nodes`` (from git, from the registry), and wfrun's place for a copy.
INSTALLS = ("ComfyUI-QwenVL", "comfyui-qwenvl")
COPY_FOLDER = "ComfyUI-QwenVL"
#: The files that hold the preset texts, in the order the pack reads them (later ones win).
MODEL_FILES = ("config.json", "hf_models.json")
#: Signatures saved before this date send the preset's name as the prompt.
TEXTS_SINCE = "2025-10-21"
#: Signatures saved before this date send a one-frame video as two frames.
ONE_FRAME_KEPT_SINCE = "2025-11-11"
#: What the enhancer sends when the prompt is empty.
EMPTY_PROMPT = "Describe a scene vividly."
#: Model names whose repository is pre-quantized FP8 (the pack skips bitsandbytes for them).
FP8_MARKS = ("-fp8", "_fp8", "-FP8", "_FP8")

#: The models this pack keeps loaded: its VL nodes', and the enhancer's text model.
_LOADED = ModelCache()
_TEXT_LOADED = ModelCache()


def _before(ctx: ExecContext, date: str) -> bool:
    return (ctx.saved_date or "9999") < date


def _install(ctx: ExecContext) -> Path | None:
    """The first place holding any of the pack's JSON files (the user's install, or a copy)."""
    for folder in pack_dirs(ctx, COPY_FOLDER, INSTALLS):
        if any((folder / name).is_file() for name in (PROMPTS_FILE, *MODEL_FILES)):
            return folder
    return None


def system_prompts(ctx: ExecContext, input_name: str) -> dict | None:
    """The preset texts as the pack reads them at start-up, or None without its files."""
    folder = _install(ctx)
    if folder is None:
        return None
    texts: dict = {}
    for name in MODEL_FILES:
        if (folder / name).is_file():
            texts = read_pack_json(folder / name, input_name).get("_system_prompts") or {}
    if (folder / PROMPTS_FILE).is_file():
        own = read_pack_json(folder / PROMPTS_FILE, input_name).get("qwenvl") or {}
        if isinstance(own, dict) and own:
            texts = own
    return texts if isinstance(texts, dict) else {}


def enhancer_styles(ctx: ExecContext) -> dict[str, str]:
    """``qwen_text.styles`` of the pack's ``AILab_System_Prompts.json``: name to system prompt."""
    folder = _install(ctx)
    if folder is None or not (folder / PROMPTS_FILE).is_file():
        return {}
    raw = (read_pack_json(folder / PROMPTS_FILE, "enhancement_style").get("qwen_text") or {}).get("styles") or {}
    if not isinstance(raw, dict):
        return {}
    return {k: v["system_prompt"] for k, v in raw.items() if isinstance(v, dict) and v.get("system_prompt")}


def _missing(ctx: ExecContext, input_name: str, value: str) -> NodeInputError:
    files = PROMPTS_FILE if input_name == "enhancement_style" else f"{PROMPTS_FILE} and hf_models.json"
    return missing_texts(input_name, value, PACK, files, llm_folder(ctx) / COPY_FOLDER)


def _info(model_name: str) -> dict:
    return model_table("1038lab").get(model_name, {})


def _load_vl(ctx: ExecContext, model_name: str, quantization: str, device: str, keep: bool) -> QwenParts:
    info = _info(model_name)
    prequantized = bool(info.get("quantized")) or any(mark in model_name for mark in FP8_MARKS)
    return load(ctx, _LOADED, find_folder(ctx, model_name, info), quantization=quantization,
                prequantized=prequantized, device_choice=device, keep=keep)


def run_vl(ctx: ExecContext, *, model_name: str, quantization: str, preset_prompt: str, custom_prompt: str,
           image: Any, video: Any, frame_count: int, max_tokens: int, temperature: float, top_p: float,
           num_beams: int, repetition_penalty: float, seed: int, keep_model_loaded: bool, device: str) -> str:
    """The pack's ``QwenVLBase.run`` (see the module doc)."""
    check_image("image", image)
    check_image("video", video)
    if custom_prompt and custom_prompt.strip():
        prompt = custom_prompt.strip()
    elif _before(ctx, TEXTS_SINCE):
        prompt = preset_prompt
    else:
        texts = system_prompts(ctx, "preset_prompt")
        if texts is None:
            raise _missing(ctx, "preset_prompt", preset_prompt)
        prompt = texts.get(preset_prompt, preset_prompt)
    torch.manual_seed(seed)
    parts = _load_vl(ctx, model_name, quantization, device, keep_model_loaded)
    frames = pick_frames(video, frame_count)
    if len(frames) == 1 and _before(ctx, ONE_FRAME_KEPT_SINCE):
        frames.append(frames[0])
    return generate(ctx, parts, prompt, image, frames, max_tokens=max_tokens, temperature=temperature, top_p=top_p,
                    num_beams=num_beams, repetition_penalty=repetition_penalty, seed=None)


@executor("AILab_QwenVL", pack=PACK)
def qwenvl(ctx: ExecContext, model_name: str, quantization: str, preset_prompt: str, custom_prompt: str,
           max_tokens: int, keep_model_loaded: bool, seed: int, image: Any = None, video: Any = None,
           **unused: Any) -> tuple:
    """``RESPONSE`` (``text`` before November 2025): the Advanced node with the pack's fixed
    settings (see the module doc); ``attention_mode`` is read and not used."""
    return (run_vl(ctx, model_name=model_name, quantization=quantization, preset_prompt=preset_prompt,
                   custom_prompt=custom_prompt, image=image, video=video, frame_count=16, max_tokens=max_tokens,
                   temperature=0.6, top_p=0.9, num_beams=1, repetition_penalty=1.2, seed=seed,
                   keep_model_loaded=keep_model_loaded, device="auto"),)


@executor("AILab_QwenVL_Advanced", pack=PACK)
def qwenvl_advanced(ctx: ExecContext, model_name: str, quantization: str, preset_prompt: str, custom_prompt: str,
                    max_tokens: int, temperature: float, top_p: float, num_beams: int, repetition_penalty: float,
                    frame_count: int, device: str, keep_model_loaded: bool, seed: int, image: Any = None,
                    video: Any = None, **unused: Any) -> tuple:
    """``RESPONSE`` (see the module doc); ``attention_mode`` and ``use_torch_compile`` are read
    and not used."""
    return (run_vl(ctx, model_name=model_name, quantization=quantization, preset_prompt=preset_prompt,
                   custom_prompt=custom_prompt, image=image, video=video, frame_count=frame_count,
                   max_tokens=max_tokens, temperature=temperature, top_p=top_p, num_beams=num_beams,
                   repetition_penalty=repetition_penalty, seed=seed, keep_model_loaded=keep_model_loaded,
                   device=device),)


@executor("AILab_QwenVL_PromptEnhancer", pack=PACK)
def prompt_enhancer(ctx: ExecContext, model_name: str, quantization: str, device: str, prompt_text: str,
                    enhancement_style: str, custom_system_prompt: str, max_tokens: int, temperature: float,
                    top_p: float, repetition_penalty: float, keep_model_loaded: bool, seed: int,
                    **unused: Any) -> tuple:
    """``ENHANCED_OUTPUT`` (see the module doc)."""
    instruction = custom_system_prompt.strip()
    if not instruction:
        styles = enhancer_styles(ctx)
        if not styles:
            raise _missing(ctx, "enhancement_style", enhancement_style)
        instruction = styles.get(enhancement_style, next(iter(styles.values())))
    merged = f"{instruction}\n\n{prompt_text.strip() or EMPTY_PROMPT}".strip()
    if "text" in _info(model_name).get("lists", ()):
        torch.manual_seed(seed)
        parts = load(ctx, _TEXT_LOADED, find_folder(ctx, model_name, _info(model_name)), quantization=quantization,
                     prequantized=False, device_choice=device, keep=keep_model_loaded)
        if parts.kind != "text":
            raise NodeInputError("model_name", f"{parts.folder.name} is a vision-language model; the pack's text "
                                 f"list names {model_name!r} for a text-only model")
        text = generate_text(parts, merged, max_tokens=max_tokens, temperature=temperature, top_p=top_p,
                             repetition_penalty=repetition_penalty, seed=None)
    else:
        # the pack names its "Prompt Refine & Expand" preset, which the non-empty custom prompt replaces
        text = run_vl(ctx, model_name=model_name, quantization=quantization, preset_prompt="", custom_prompt=merged,
                      image=None, video=None, frame_count=1, max_tokens=max_tokens, temperature=temperature,
                      top_p=top_p, num_beams=1, repetition_penalty=repetition_penalty, seed=seed,
                      keep_model_loaded=keep_model_loaded, device=device)
    return (text.strip(),)
