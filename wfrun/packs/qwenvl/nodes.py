"""``AILab_QwenVL``, ``AILab_QwenVL_Advanced`` and ``AILab_QwenVL_PromptEnhancer`` of
huchukato/ComfyUI-QwenVL-Mod (its versions of February-March 2026), on transformers.

What the pack does, and wfrun with it: the model name maps to a repository (``hf_models.json``
here, read from the pack's lists); its folder ``<models>/LLM/Qwen-VL/<repo's last part>``
(or a folder named as the model) is loaded with transformers' class for its ``model_type``.
The prompt is the preset's text from the pack's ``AILab_System_Prompts.json`` (an unknown
preset is sent as its own name, as the pack does), joined with ``custom_prompt`` by a blank
line (custom first in files saved with signatures from 2026-02-12, template first before).
The user turn holds the image (first frame), then the video frames (at most ``frame_count``,
picked with ``linspace``), then the text; ``torch.manual_seed(seed)``; ``num_beams == 1``
samples with temperature and top_p, more beams search without sampling; the reply is
decoded without special tokens and stripped. ``keep_last_prompt`` returns the last reply of
this process's nodes of the same module ("" before any), as the pack's global does.

Differences, said rather than hidden: wfrun never downloads (a missing folder is an error
saying where to put it); the preset texts are the pack's, not wfrun's: they are read from
``AILab_System_Prompts.json`` in ``<models>/LLM/Qwen-VL/`` or in
``<models>/../custom_nodes/ComfyUI-QwenVL-Mod/`` (a preset without its file is refused);
the pack's on-disk prompt cache (``prompt_cache.json``, keyed by a hash of a few pixels) is
not kept: every run generates; attention is PyTorch's SDPA whatever ``attention_mode`` says;
``use_torch_compile`` is ignored; weights are fp16 on a GPU (the pack's dtype), fp32 on the
CPU; 4/8-bit bitsandbytes quantization is refused (the pack skips it for the models its list
marks pre-quantized, and so does wfrun). Without torchvision, images and video frames are
prepared by wfrun itself in the steps of transformers' processors (``wfrun.models.qwenvl``).
"""

from __future__ import annotations

from typing import Any

from wfrun.models.qwenvl import QwenParts, model_table
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.qwenvl.common import (PROMPTS_FILE, ModelCache, check_image, find_folder, generate, generate_text,
                                       llm_folder, load, missing_texts, pack_file_places, pick_frames, read_pack_json,
                                       to_pil)

__all__ = ["to_pil"]  # the tests convert frames as the pack does

PACK = "ComfyUI-QwenVL-Mod"
#: The preset the Prompt Enhancer sends with a VL model (the pack's name for it).
ENHANCER_PRESET = "\U0001fa84 Prompt Refine & Expand"
#: Signatures saved from this date put the custom prompt before the template.
CUSTOM_FIRST_SINCE = "2026-02-12"

#: The last reply, per pack module (AILab_QwenVL.py's nodes share one; the enhancer has its own).
LAST_PROMPT: dict[str, str | None] = {"qwenvl": None, "enhancer": None}
#: The one model kept loaded between this pack's nodes (``keep_model_loaded``).
_LOADED = ModelCache()


def prompts_file(ctx: ExecContext) -> dict | None:
    """The pack's ``AILab_System_Prompts.json`` where the user keeps it, or None."""
    for place in pack_file_places(ctx, PROMPTS_FILE, None, (PACK,)):
        if place.is_file():
            return read_pack_json(place, "preset_prompt")
    return None


def _missing_prompts(ctx: ExecContext, input_name: str, value: str) -> NodeInputError:
    return missing_texts(input_name, value, PACK, PROMPTS_FILE, llm_folder(ctx))


def _load(ctx: ExecContext, model_name: str, quantization: str, device_choice: str, keep: bool) -> QwenParts:
    info = model_table("mod").get(model_name, {})
    return load(ctx, _LOADED, find_folder(ctx, model_name, info), quantization=quantization,
                prequantized=bool(info.get("quantized")), device_choice=device_choice, keep=keep)


def _join(ctx: ExecContext, custom: str, template: str) -> str:
    if not (custom and custom.strip()):
        return template
    if (ctx.saved_date or "9999") >= CUSTOM_FIRST_SINCE:
        return f"{custom.strip()}\n\n{template}"
    return f"{template}\n\n{custom.strip()}"


def run_vl(ctx: ExecContext, *, model_name: str, quantization: str, preset_prompt: str, custom_prompt: str,
           image: Any, video: Any, frame_count: int, max_tokens: int, temperature: float, top_p: float,
           num_beams: int, repetition_penalty: float, seed: int, keep_model_loaded: bool, device: str,
           presets: dict | None) -> str:
    """The pack's ``QwenVLBase.run`` without its cache. ``presets``: the prompts file's
    ``qwenvl`` table (None: the file was not found)."""
    if presets is None:
        raise _missing_prompts(ctx, "preset_prompt", preset_prompt)
    template = presets.get(preset_prompt, preset_prompt)
    check_image("image", image)
    frames = pick_frames(video, frame_count)
    parts = _load(ctx, model_name, quantization, device, keep_model_loaded)
    return generate(ctx, parts, _join(ctx, custom_prompt, template), image, frames, max_tokens=max_tokens,
                    temperature=temperature, top_p=top_p, num_beams=num_beams, repetition_penalty=repetition_penalty,
                    seed=seed)


def _presets(ctx: ExecContext) -> dict | None:
    data = prompts_file(ctx)
    return None if data is None else dict(data.get("qwenvl") or {})


def _last(module: str) -> tuple:
    return (LAST_PROMPT[module] or "",)


@executor("AILab_QwenVL", pack=PACK, volatile=True)
def qwenvl(ctx: ExecContext, model_name: str, preset_prompt: str, custom_prompt: str, max_tokens: int,
           keep_model_loaded: bool, seed: int, quantization: str, keep_last_prompt: bool, image: Any = None,
           video: Any = None, **unused: Any) -> tuple:
    """``RESPONSE``: the Advanced node with the pack's fixed settings (16 frames, temperature
    0.6, top_p 0.9, one beam, repetition penalty 1.2, device auto)."""
    if keep_last_prompt:
        return _last("qwenvl")
    text = run_vl(ctx, model_name=model_name, quantization=quantization, preset_prompt=preset_prompt,
                  custom_prompt=custom_prompt, image=image, video=video, frame_count=16, max_tokens=max_tokens,
                  temperature=0.6, top_p=0.9, num_beams=1, repetition_penalty=1.2, seed=seed,
                  keep_model_loaded=keep_model_loaded, device="auto", presets=_presets(ctx))
    LAST_PROMPT["qwenvl"] = text
    return (text,)


@executor("AILab_QwenVL_Advanced", pack=PACK, volatile=True)
def qwenvl_advanced(ctx: ExecContext, model_name: str, preset_prompt: str, custom_prompt: str, max_tokens: int,
                    temperature: float, top_p: float, num_beams: int, repetition_penalty: float, frame_count: int,
                    keep_model_loaded: bool, seed: int, device: str, quantization: str, keep_last_prompt: bool,
                    image: Any = None, video: Any = None, **unused: Any) -> tuple:
    """``RESPONSE`` (see the module doc)."""
    if keep_last_prompt:
        return _last("qwenvl")
    text = run_vl(ctx, model_name=model_name, quantization=quantization, preset_prompt=preset_prompt,
                  custom_prompt=custom_prompt, image=image, video=video, frame_count=frame_count,
                  max_tokens=max_tokens, temperature=temperature, top_p=top_p, num_beams=num_beams,
                  repetition_penalty=repetition_penalty, seed=seed, keep_model_loaded=keep_model_loaded,
                  device=device, presets=_presets(ctx))
    LAST_PROMPT["qwenvl"] = text
    return (text,)


@executor("AILab_QwenVL_PromptEnhancer", pack=PACK, volatile=True)
def prompt_enhancer(ctx: ExecContext, model_name: str, quantization: str, prompt_text: str, enhancement_style: str,
                    custom_system_prompt: str, max_tokens: int, temperature: float, top_p: float,
                    repetition_penalty: float, keep_model_loaded: bool, seed: int, device: str,
                    keep_last_prompt: bool, **unused: Any) -> tuple:
    """``ENHANCED_OUTPUT``: the instruction (``custom_system_prompt``, else the style's
    ``system_prompt`` from the prompts file's ``qwen_text.styles``, else its first style) and
    the prompt (or "Describe a scene vividly.") joined by a blank line. A VL model gets it as
    the custom prompt of the pack's "🪄 Prompt Refine & Expand" preset (no image); a text
    model gets the raw text (no chat template), sampled, and the reply after the prompt.

    The pack's lists of Feb-Aug 2026 also name two Qwen3-VL models as text models, whose
    text route (``AutoModelForCausalLM``) transformers cannot build; wfrun runs any VL folder
    on the VL route, as the pack's versions before and after those lists do."""
    if keep_last_prompt:
        return _last("enhancer")
    data = prompts_file(ctx)
    styles = {}
    if data is not None:
        raw = (data.get("qwen_text") or {}).get("styles") or {}
        styles = {k: v.get("system_prompt") for k, v in raw.items() if isinstance(v, dict) and v.get("system_prompt")}
    instruction = custom_system_prompt.strip()
    if not instruction:
        if not styles:
            raise _missing_prompts(ctx, "enhancement_style", enhancement_style)
        instruction = styles.get(enhancement_style, next(iter(styles.values())))
    user = prompt_text.strip() or "Describe a scene vividly."
    if (ctx.saved_date or "9999") >= CUSTOM_FIRST_SINCE:
        merged = f"{user}\n\n{instruction}".strip()
    else:
        merged = f"{instruction}\n\n{user}".strip()
    parts = _load(ctx, model_name, quantization, device, keep_model_loaded)
    if parts.kind == "vl":
        presets = dict((data or {}).get("qwenvl") or {})
        text = generate(ctx, parts, _join(ctx, merged, presets.get(ENHANCER_PRESET, ENHANCER_PRESET)), None, [],
                        max_tokens=max_tokens, temperature=temperature, top_p=top_p, num_beams=1,
                        repetition_penalty=repetition_penalty, seed=seed)
    else:
        text = generate_text(parts, merged, max_tokens=max_tokens, temperature=temperature, top_p=top_p,
                             repetition_penalty=repetition_penalty, seed=seed)
    LAST_PROMPT["enhancer"] = text.strip()
    return (text.strip(),)

