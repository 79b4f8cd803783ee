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

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from wfrun.models.config_json import read_json_object
from wfrun.models.paths import ModelPathError
from wfrun.models.qwenvl import (FOLDER, SUBFOLDER, QwenParts, QwenVLError, find_qwenvl_folder, load_qwen, model_table,
                                 vl_inputs)
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.models import roots_of

PACK = "ComfyUI-QwenVL-Mod"
PROMPTS_FILE = "AILab_System_Prompts.json"
FP16 = "None (FP16)"
#: The preset the Prompt Enhancer sends with a VL model (the pack's name for it).
ENHANCER_PRESET = "\U0001fa84 Prompt Refine & Expand"
#: Signatures saved from this date put the custom prompt before the template.
CUSTOM_FIRST_SINCE = "2026-02-12"

#: The last reply, per pack module (AILab_QwenVL.py's nodes share one; the enhancer has its own).
LAST_PROMPT: dict[str, str | None] = {"qwenvl": None, "enhancer": None}
#: The one model kept loaded between nodes (``keep_model_loaded``): (key, parts).
_LOADED: dict[str, Any] = {}


def prompts_file(ctx: ExecContext) -> dict | None:
    """The pack's ``AILab_System_Prompts.json`` where the user keeps it, or None."""
    roots = roots_of(ctx)
    places = [base / SUBFOLDER / PROMPTS_FILE for base in roots.folders(FOLDER)]
    places += [Path(root).parent / "custom_nodes" / PACK / PROMPTS_FILE for root in roots.roots]
    for place in places:
        if place.is_file():
            try:
                return read_json_object(place, QwenVLError, "the pack's prompts file")
            except QwenVLError as err:
                raise NodeInputError("preset_prompt", str(err)) from None
    return None


def _missing_prompts(ctx: ExecContext, input_name: str, value: str) -> NodeInputError:
    folders = roots_of(ctx).folders(FOLDER)
    where = folders[0] / SUBFOLDER if folders else Path("<models>") / FOLDER / SUBFOLDER
    return NodeInputError(
        input_name, f"{value!r} is a prompt text that ComfyUI-QwenVL-Mod ships in {PROMPTS_FILE}; wfrun does not "
        "ship those texts", f"copy {PROMPTS_FILE} from your ComfyUI-QwenVL-Mod install into {where}")


def _folder(ctx: ExecContext, model_name: str) -> tuple[Path, dict]:
    info = model_table().get(model_name, {})
    name = str(info.get("repo_id", model_name)).rsplit("/", 1)[-1]
    roots = roots_of(ctx)
    try:
        return find_qwenvl_folder(roots, name), info
    except ModelPathError as err:
        folders = roots.folders(FOLDER)
        target = (folders[0] / SUBFOLDER if folders else Path("<models>") / FOLDER / SUBFOLDER) / name
        repo = f"the Hugging Face repository {info['repo_id']}" if info else "the model's files"
        raise NodeInputError("model_name", str(err), f"wfrun never downloads models: put {repo} into {target} "
                             "(config.json, tokenizer files, *.safetensors), or give the models folder with "
                             "--models DIR") from None


def _load(ctx: ExecContext, model_name: str, quantization: str, device_choice: str, keep: bool) -> QwenParts:
    folder, info = _folder(ctx, model_name)
    if quantization != FP16 and not info.get("quantized"):
        raise NodeInputError("quantization", f"{quantization!r} needs bitsandbytes, which wfrun does not run",
                             f"choose {FP16!r}")
    device = "cpu" if device_choice == "cpu" else str(ctx.device)
    dtype = torch.float32 if device.startswith("cpu") else torch.float16
    key = f"{folder.resolve()}|{dtype}|{device}"
    if _LOADED.get("key") == key:
        parts = _LOADED["parts"]
    else:
        _LOADED.clear()
        try:
            parts = load_qwen(folder, dtype, device)
        except QwenVLError as err:
            raise NodeInputError("model_name", str(err), "the folder must hold the model as its repository has it") \
                from None
    if keep:
        _LOADED.update(key=key, parts=parts)
    else:
        _LOADED.clear()
    return parts


def to_pil(frame: torch.Tensor) -> Image.Image:
    """The pack's ``(frame * 255).clip(0, 255).astype(uint8)`` (truncating) as an RGB image."""
    array = (frame[..., :3].float().cpu().numpy() * 255).clip(0, 255).astype(np.uint8)
    return Image.fromarray(array, "RGB")


def _check_image(name: str, value: Any) -> None:
    if value is not None and (not isinstance(value, torch.Tensor) or value.ndim != 4 or value.shape[0] == 0):
        raise NodeInputError(name, "expected an IMAGE [frames, height, width, channels]")


def generate(ctx: ExecContext, parts: QwenParts, text: str, image: Any, video: Any, *, frame_count: int,
             max_tokens: int, temperature: float, top_p: float, num_beams: int, repetition_penalty: float,
             seed: int) -> str:
    """One chat turn through the pack's ``generate`` (see the module doc)."""
    _check_image("image", image)
    _check_image("video", video)
    content: list[dict] = []
    images = [to_pil(image[0])] if image is not None else []
    if images:
        content.append({"type": "image", "image": images[0]})
    frames: list = []
    if video is not None:
        frames = [to_pil(f) for f in video]
        if len(frames) > frame_count:
            frames = [frames[i] for i in np.linspace(0, len(frames) - 1, frame_count, dtype=int)]
        content.append({"type": "video", "video": frames})
    content.append({"type": "text", "text": text})
    tok = parts.tokenizer
    try:
        inputs = vl_inputs(parts, [{"role": "user", "content": content}], images, [frames] if frames else None)
    except QwenVLError as err:
        raise NodeInputError("video" if frames else "image", str(err),
                             "give frames the model's processor takes, or disconnect the input") from None
    device = next(parts.model.parameters()).device
    inputs = {k: v.to(device) if torch.is_tensor(v) else v for k, v in inputs.items()}
    kwargs: dict[str, Any] = dict(max_new_tokens=max_tokens, repetition_penalty=repetition_penalty,
                                  num_beams=num_beams, eos_token_id=[tok.eos_token_id], pad_token_id=tok.pad_token_id)
    if num_beams == 1:
        kwargs.update(do_sample=True, temperature=temperature, top_p=top_p)
    else:
        kwargs["do_sample"] = False
    torch.manual_seed(seed)
    ctx.check_interrupt()
    with torch.no_grad():
        out = parts.model.generate(**inputs, **kwargs)
    return tok.decode(out[0, inputs["input_ids"].shape[-1]:], skip_special_tokens=True).strip()


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
    parts = _load(ctx, model_name, quantization, device, keep_model_loaded)
    if parts.kind != "vl":
        raise NodeInputError("model_name", f"{parts.folder.name} is a text-only model; this node needs a Qwen-VL model")
    return generate(ctx, parts, _join(ctx, custom_prompt, template), image, video, frame_count=frame_count,
                    max_tokens=max_tokens, temperature=temperature, top_p=top_p, num_beams=num_beams,
                    repetition_penalty=repetition_penalty, seed=seed)


def _presets(ctx: ExecContext) -> dict | None:
    data = prompts_file(ctx)
    return None if data is None else dict(data.get("qwenvl") or {})


def _last(module: str) -> tuple:
    return (LAST_PROMPT[module] or "",)


@executor("AILab_QwenVL", pack=PACK, volatile=True)
def qwenvl(ctx: ExecContext, model_name: str, preset_prompt: str, custom_prompt: str, max_tokens: int,
           keep_model_loaded: bool, seed: int, attention_mode: str = "auto", quantization: str = FP16,
           keep_last_prompt: bool = False, image: Any = None, video: Any = None, **unused: Any) -> tuple:
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
                    keep_model_loaded: bool, seed: int, device: str = "auto", quantization: str = FP16,
                    keep_last_prompt: bool = False, image: Any = None, video: Any = None, **unused: Any) -> tuple:
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
                    repetition_penalty: float, keep_model_loaded: bool, seed: int, device: str = "auto",
                    keep_last_prompt: bool = False, **unused: Any) -> tuple:
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
        text = generate(ctx, parts, _join(ctx, merged, presets.get(ENHANCER_PRESET, ENHANCER_PRESET)), None, None,
                        frame_count=1, max_tokens=max_tokens, temperature=temperature, top_p=top_p, num_beams=1,
                        repetition_penalty=repetition_penalty, seed=seed)
    else:
        text = generate_text(parts, merged, max_tokens=max_tokens, temperature=temperature, top_p=top_p,
                             repetition_penalty=repetition_penalty, seed=seed)
    LAST_PROMPT["enhancer"] = text.strip()
    return (text.strip(),)


def generate_text(parts: QwenParts, prompt: str, *, max_tokens: int, temperature: float, top_p: float,
                  repetition_penalty: float, seed: int) -> str:
    """The pack's text route: the raw prompt, sampled; the decoded output minus the decoded prompt."""
    tok = parts.tokenizer
    device = next(parts.model.parameters()).device
    inputs = tok(prompt, return_tensors="pt").to(device)
    torch.manual_seed(seed)
    with torch.no_grad():
        out = parts.model.generate(**inputs, max_new_tokens=max_tokens, repetition_penalty=repetition_penalty,
                                   do_sample=True, temperature=temperature, top_p=top_p,
                                   eos_token_id=tok.eos_token_id, pad_token_id=tok.eos_token_id)
    decoded = tok.decode(out[0], skip_special_tokens=True)
    prefix = tok.decode(inputs["input_ids"][0], skip_special_tokens=True)
    return decoded[len(prefix):].strip()
