"""What 1038lab's ComfyUI-QwenVL and its fork ComfyUI-QwenVL-Mod do alike, for both packs'
executors (``nodes`` for the fork, ``nodes_1038lab`` for the original): finding a model's
folder from a model list, loading it (one model kept per pack, as ``keep_model_loaded``
asks), reading the pack's JSON files from the user's install, turning IMAGE tensors into the
PIL pictures the packs hand to the processor, and the two generate routes (a VL chat turn;
a text model's prompt). Each pack keeps its own prompt joining, presets, seeding point,
frame handling, defaults and caches in its module.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from wfrun.models.config_json import read_json_object
from wfrun.models.paths import ModelPathError
from wfrun.models.qwenvl import FOLDER, SUBFOLDER, QwenParts, QwenVLError, find_qwenvl_folder, load_qwen, vl_inputs
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.nodes.models import roots_of

FP16 = "None (FP16)"
PROMPTS_FILE = "AILab_System_Prompts.json"


def llm_folder(ctx: ExecContext) -> Path:
    """``<models>/LLM/Qwen-VL``: where the packs download, and where wfrun asks for their files."""
    folders = roots_of(ctx).folders(FOLDER)
    return (folders[0] if folders else Path("<models>") / FOLDER) / SUBFOLDER


def pack_dirs(ctx: ExecContext, subfolder: str | None, installs: tuple[str, ...]) -> list[Path]:
    """Where a pack's JSON files may lie: ``<LLM>/Qwen-VL[/subfolder]`` in every LLM models
    folder, then ``custom_nodes/<install>`` beside every models root (the user's install)."""
    roots = roots_of(ctx)
    dirs = [base / SUBFOLDER / subfolder if subfolder else base / SUBFOLDER for base in roots.folders(FOLDER)]
    for root in roots.roots:
        dirs += [Path(root).parent / "custom_nodes" / install for install in installs]
    return dirs


def pack_file_places(ctx: ExecContext, name: str, subfolder: str | None, installs: tuple[str, ...]) -> list[Path]:
    """:func:`pack_dirs`, each with ``name`` in it."""
    return [folder / name for folder in pack_dirs(ctx, subfolder, installs)]


def read_pack_json(path: Path, input_name: str) -> dict:
    """One of the pack's JSON files (a JSON object), or a NodeInputError naming ``input_name``."""
    try:
        return read_json_object(path, QwenVLError, f"the pack's {path.name}")
    except QwenVLError as err:
        raise NodeInputError(input_name, str(err)) from None


def missing_texts(input_name: str, value: str, pack: str, files: str, where: Path) -> NodeInputError:
    """The error for a preset or style whose text lives in a pack file the user has not given."""
    return NodeInputError(input_name, f"{value!r} is a prompt text that {pack} ships in {files}; wfrun does not "
                          "ship those texts", f"copy {files} from your {pack} install into {where}")


def find_folder(ctx: ExecContext, model_name: str, info: dict) -> Path:
    """The model's folder, ``<LLM>/Qwen-VL/<last part of its repository>`` (a name not in the
    pack's list: a folder of that name), or an error saying where to put it."""
    name = str(info.get("repo_id", model_name)).rsplit("/", 1)[-1]
    try:
        return find_qwenvl_folder(roots_of(ctx), name)
    except ModelPathError as err:
        repo = f"the Hugging Face repository {info['repo_id']}" if info.get("repo_id") else "the model's files"
        raise NodeInputError("model_name", str(err), f"wfrun never downloads models: put {repo} into "
                             f"{llm_folder(ctx) / name} (config.json, tokenizer files, *.safetensors), or give the "
                             "models folder with --models DIR") from None


@dataclass
class ModelCache:
    """The one model a pack keeps loaded between its nodes (``keep_model_loaded``)."""

    key: str | None = None
    parts: QwenParts | None = None

    def clear(self) -> None:
        self.key, self.parts = None, None


def load(ctx: ExecContext, cache: ModelCache, folder: Path, *, quantization: str, prequantized: bool,
         device_choice: str, keep: bool) -> QwenParts:
    """The folder's model in fp16 on a GPU (the packs' dtype there), fp32 on the CPU; bitsandbytes
    4/8-bit is refused except for a model the pack itself loads without it (pre-quantized)."""
    if quantization != FP16 and not prequantized:
        raise NodeInputError("quantization", f"{quantization!r} needs bitsandbytes, which wfrun does not run",
                             f"choose {FP16!r}")
    device = "cpu" if device_choice == "cpu" else str(ctx.device)
    dtype = torch.float32 if device.startswith("cpu") else torch.float16
    key = f"{folder.resolve()}|{dtype}|{device}"
    if cache.key == key and cache.parts is not None:
        parts = cache.parts
    else:
        cache.clear()
        try:
            parts = load_qwen(folder, dtype, device)
        except QwenVLError as err:
            raise NodeInputError("model_name", str(err), "the folder must hold the model as its repository has it") \
                from None
    if keep:
        cache.key, cache.parts = key, parts
    else:
        cache.clear()
    return parts


def to_pil(frame: torch.Tensor) -> Image.Image:
    """The packs' ``(frame * 255).clip(0, 255).astype(uint8)`` (truncating) as an RGB image."""
    array = (frame[..., :3].float().cpu().numpy() * 255).clip(0, 255).astype(np.uint8)
    return Image.fromarray(array, "RGB")


def check_image(name: str, value: Any) -> None:
    if value is not None and (not isinstance(value, torch.Tensor) or value.ndim != 4 or value.shape[0] == 0):
        raise NodeInputError(name, "expected an IMAGE [frames, height, width, channels]")


def pick_frames(video: Any, frame_count: int) -> list[Image.Image]:
    """The video's frames as pictures, at most ``frame_count`` of them at
    ``linspace(0, n - 1, frame_count)`` truncated to whole indices, as both packs pick them."""
    check_image("video", video)
    if video is None:
        return []
    frames = [to_pil(f) for f in video]
    if len(frames) > frame_count:
        frames = [frames[i] for i in np.linspace(0, len(frames) - 1, frame_count, dtype=int)]
    return frames


def generate(ctx: ExecContext, parts: QwenParts, text: str, image: Any, frames: list, *, max_tokens: int,
             temperature: float, top_p: float, num_beams: int, repetition_penalty: float,
             seed: int | None) -> str:
    """One user turn (the image's first frame, then the frames as one video, then the text)
    through the packs' ``generate``: one beam samples with temperature and top_p, more beams
    search without sampling; stop at the tokenizer's eos; the reply decoded without special
    tokens and stripped. ``seed``: ``torch.manual_seed`` just before generating (None: the
    caller seeded earlier, as 1038lab's pack does before loading)."""
    if parts.kind != "vl":
        raise NodeInputError("model_name", f"{parts.folder.name} is a text-only model; this node needs a Qwen-VL model")
    check_image("image", image)
    content: list[dict] = []
    images = [to_pil(image[0])] if image is not None else []
    if images:
        content.append({"type": "image", "image": images[0]})
    if frames:
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
    if seed is not None:
        torch.manual_seed(seed)
    ctx.check_interrupt()
    with torch.no_grad():
        out = parts.model.generate(**inputs, **kwargs)
    return tok.decode(out[0, inputs["input_ids"].shape[-1]:], skip_special_tokens=True).strip()


def generate_text(parts: QwenParts, prompt: str, *, max_tokens: int, temperature: float, top_p: float,
                  repetition_penalty: float, seed: int | None) -> str:
    """The packs' text-model route: the raw prompt (no chat template), sampled, eos as pad;
    the decoded output minus the decoded prompt, stripped. ``seed`` as in :func:`generate`."""
    tok = parts.tokenizer
    device = next(parts.model.parameters()).device
    inputs = tok(prompt, return_tensors="pt").to(device)
    if seed is not None:
        torch.manual_seed(seed)
    with torch.no_grad():
        out = parts.model.generate(**inputs, max_new_tokens=max_tokens, repetition_penalty=repetition_penalty,
                                   do_sample=True, temperature=temperature, top_p=top_p,
                                   eos_token_id=tok.eos_token_id, pad_token_id=tok.eos_token_id)
    decoded = tok.decode(out[0], skip_special_tokens=True)
    prefix = tok.decode(inputs["input_ids"][0], skip_special_tokens=True)
    return decoded[len(prefix):].strip()
