"""Qwen-VL model folders (Qwen2-VL, Qwen2.5-VL, Qwen3-VL, and Qwen text models): finding them,
loading them with transformers, offline, and turning a chat into model inputs.

1038lab's ComfyUI-QwenVL and its fork ComfyUI-QwenVL-Mod download a Hugging Face repository
into ``ComfyUI/models/LLM/Qwen-VL/<last part of the repo id>`` and load it with
``AutoModelForVision2Seq`` (``AutoModelForImageTextToText``) and ``AutoProcessor``. wfrun never
downloads and never runs remote code: it looks for the same folder in every ``LLM`` models
folder and builds the transformers class the folder's ``config.json`` names.

transformers' Qwen processors need torchvision (their video processors import it, and the
processor class checks every part at construction). Where torchvision is installed the
folder's own ``AutoProcessor`` is used, as the packs do; where it is not, the same steps are
taken here: the folder's chat template; for images the slow (PIL) Qwen2-VL image processor
with the folder's ``preprocessor_config.json`` and each ``<|image_pad|>`` repeated
``grid_t*grid_h*grid_w / merge_size**2`` times; for videos the video processor's steps in
:mod:`wfrun.models.qwenvl_video` (frames, patches, the pads and Qwen3-VL's timestamps, Qwen2.5-VL's
``second_per_grid_ts``); and ``mm_token_type_ids`` (0 text, 1 image pad, 2 video pad), without
which transformers' model falls back to plain positions instead of its multimodal RoPE.
The tests check the result against transformers' processor and a second construction.
"""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from wfrun.models.config_json import read_json_object
from wfrun.models.paths import ModelPathError, ModelRoots, find_model_folder
from wfrun.models.qwenvl_video import (VideoInputError, process_video, read_video_rules, second_per_grid_ts,
                                       video_text)

#: The models folder and sub-folder the packs download into (``models/LLM/Qwen-VL``).
FOLDER, SUBFOLDER = "LLM", "Qwen-VL"
#: ``config.json`` model types built as vision-language models, and as text-only models.
VL_TYPES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_vl_moe")
TEXT_TYPES = ("qwen2", "qwen3", "qwen3_moe")
#: Longest chat template read from a folder (real ones are a few kB).
MAX_TEMPLATE_BYTES = 1 << 20


#: The model lists as data, per pack: ComfyUI-QwenVL-Mod's and 1038lab's ComfyUI-QwenVL's.
TABLES = {"mod": "qwenvl_models.json", "1038lab": "qwenvl_1038lab_models.json"}


@lru_cache(maxsize=2)
def model_table(pack: str = "mod") -> dict[str, dict]:
    """A pack's model names (``TABLES``): ``{name: {"repo_id", "quantized", "lists"}}``."""
    return json.loads(Path(__file__).with_name("configs").joinpath(TABLES[pack]).read_text("utf-8"))["models"]


def folder_for(model_name: str) -> str:
    """The folder the packs download ``model_name`` to: its repository's last part (a name
    in neither pack's lists: the name itself, as a local folder). The two lists agree on
    every name they share."""
    info = model_table("mod").get(model_name) or model_table("1038lab").get(model_name) or {}
    return str(info.get("repo_id", model_name)).rsplit("/", 1)[-1]


class QwenVLError(ValueError):
    """The folder is not a Qwen model wfrun can build, or an input cannot be fed to it."""


def torchvision_available() -> bool:
    return importlib.util.find_spec("torchvision") is not None


def find_qwenvl_folder(roots: ModelRoots, name: str) -> Path:
    """``<LLM>/Qwen-VL/<name>`` in the first ``LLM`` models folder that has it; ``name`` is one
    plain folder name (the last part of a repository id), never a path."""
    if not name or name in (".", "..") or any(c in name for c in "/\\:\0"):
        raise ModelPathError(f"{name!r} does not name a model folder")
    return find_model_folder([base / SUBFOLDER for base in roots.folders(FOLDER)], name,
                             f"the {FOLDER}/{SUBFOLDER} folders")


@dataclass(frozen=True, eq=False)
class QwenParts:
    """A loaded folder: the model, its tokenizer, and (VL models) the processor or its parts."""

    model: Any
    tokenizer: Any
    kind: str  # "vl" or "text"
    folder: Path
    processor: Any = None  # the folder's AutoProcessor, where torchvision is installed
    image_processor: Any = None  # else the slow image processor
    chat_template: str | None = None
    model_type: str = ""


def model_type_of(folder: Path) -> str:
    config = read_json_object(folder / "config.json", QwenVLError, "a Qwen model's config.json")
    model_type = config.get("model_type")
    if model_type not in VL_TYPES + TEXT_TYPES:
        raise QwenVLError(f"{folder.name}: config.json's model_type is {model_type!r}; wfrun builds "
                          f"{', '.join(VL_TYPES + TEXT_TYPES)}")
    if not any(folder.glob("*.safetensors")):
        raise QwenVLError(f"{folder.name} holds no .safetensors weights (wfrun reads no pickled .bin files)")
    return model_type


def load_qwen(folder: Path, dtype: torch.dtype, device: torch.device | str) -> QwenParts:
    """Build the folder's model (transformers' own class for its ``model_type``, no remote
    code, safetensors only) in ``dtype`` on ``device``, with its tokenizer and processor."""
    from transformers import AutoModelForCausalLM, AutoModelForImageTextToText, AutoTokenizer

    model_type = model_type_of(folder)
    vl = model_type in VL_TYPES
    auto = AutoModelForImageTextToText if vl else AutoModelForCausalLM
    try:
        model = auto.from_pretrained(str(folder), dtype=dtype, local_files_only=True, trust_remote_code=False,
                                     use_safetensors=True).eval()
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True, trust_remote_code=False)
    except (OSError, ValueError, KeyError) as err:
        raise QwenVLError(f"{folder.name}: transformers cannot build it: {str(err).splitlines()[0]}") from None
    model.to(device)
    if not vl:
        return QwenParts(model, tokenizer, "text", folder)
    if torchvision_available():
        from transformers import AutoProcessor

        processor = AutoProcessor.from_pretrained(str(folder), local_files_only=True, trust_remote_code=False)
        return QwenParts(model, tokenizer, "vl", folder, processor=processor)
    from transformers.models.qwen2_vl import Qwen2VLImageProcessorPil

    image_processor = Qwen2VLImageProcessorPil.from_pretrained(str(folder), local_files_only=True)
    return QwenParts(model, tokenizer, "vl", folder, image_processor=image_processor,
                     chat_template=read_chat_template(folder, tokenizer), model_type=model_type)


def read_chat_template(folder: Path, tokenizer: Any) -> str:
    """The chat template the processor would use: ``chat_template.jinja``, else
    ``chat_template.json``'s, else the tokenizer's."""
    jinja = folder / "chat_template.jinja"
    if jinja.is_file() and jinja.stat().st_size <= MAX_TEMPLATE_BYTES:
        return jinja.read_text(encoding="utf-8")
    if (folder / "chat_template.json").is_file():
        data = read_json_object(folder / "chat_template.json", QwenVLError, "a chat template")
        if isinstance(data.get("chat_template"), str):
            return data["chat_template"]
    if isinstance(getattr(tokenizer, "chat_template", None), str):
        return tokenizer.chat_template
    raise QwenVLError(f"{folder.name} has no chat template (chat_template.jinja or chat_template.json)")


def vl_inputs(parts: QwenParts, conversation: list[dict], images: list, videos: list | None) -> dict:
    """Model inputs for one user turn, as ``processor.apply_chat_template(..., tokenize=False,
    add_generation_prompt=True)`` then ``processor(text=, images=, videos=, return_tensors="pt")``;
    ``videos``: one list of PIL frames per video."""
    if parts.processor is not None:
        chat = parts.processor.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
        return dict(parts.processor(text=chat, images=images or None, videos=videos, return_tensors="pt"))
    tok = parts.tokenizer
    chat = tok.apply_chat_template(conversation, chat_template=parts.chat_template, tokenize=False,
                                   add_generation_prompt=True)
    image_pad, video_pad = _token(tok, "image_token", "<|image_pad|>"), _token(tok, "video_token", "<|video_pad|>")
    out: dict[str, Any] = {}
    replacements: dict[str, list[str]] = {image_pad: [], video_pad: []}
    if images:
        pixels = parts.image_processor(images=images, return_tensors="pt")
        out.update(pixels)
        merge = parts.image_processor.merge_size ** 2
        replacements[image_pad] = [image_pad * (int(grid.prod()) // merge) for grid in pixels["image_grid_thw"]]
    if videos:
        try:
            rules = read_video_rules(parts.folder, parts.model_type)
            processed = [process_video(rules, frames) for frames in videos]
        except VideoInputError as err:
            raise QwenVLError(str(err)) from None
        out["pixel_values_videos"] = torch.cat([v.pixel_values_videos for v in processed])
        out["video_grid_thw"] = torch.cat([v.video_grid_thw for v in processed])
        start = _token(tok, "vision_start_token", "<|vision_start|>")
        end = _token(tok, "vision_end_token", "<|vision_end|>")
        replacements[video_pad] = [video_text(rules, v, video_pad, start, end) for v in processed]
        if parts.model_type == "qwen2_5_vl":
            out["second_per_grid_ts"] = torch.tensor([second_per_grid_ts(rules, v) for v in processed])
    chat = expand_placeholders(chat, replacements)
    encoded = tok(chat, return_tensors="pt")
    out.update(encoded)
    ids = encoded["input_ids"]
    kinds = torch.zeros_like(ids)
    kinds[ids == tok.convert_tokens_to_ids(image_pad)] = 1
    kinds[ids == tok.convert_tokens_to_ids(video_pad)] = 2
    out["mm_token_type_ids"] = kinds
    return out


def _token(tok: Any, name: str, default: str) -> str:
    return getattr(tok, name, None) or default


def expand_placeholders(chat: str, replacements: dict[str, list[str]]) -> str:
    """Each placeholder token (a key) replaced, in the order they occur, by the next of its
    list, in one pass (as the processor's ``get_text_with_replacements``); the counts must match."""
    wanted = {token: items for token, items in replacements.items() if items}
    found = {token: chat.count(token) for token in replacements}
    for token, items in replacements.items():
        if found[token] != len(items):
            kind = "image" if "image" in token else "video"
            raise QwenVLError(f"the chat template made {found[token]} {kind} places for {len(items)} {kind}s")
    if not wanted:
        return chat
    queues = {token: iter(items) for token, items in wanted.items()}
    pattern = "|".join(re.escape(token) for token in wanted)
    return re.sub(pattern, lambda m: next(queues[m.group(0)]), chat)
