"""CLIPSeg (text-prompted segmentation) from a transformers model folder, offline.

KJNodes' CLIPSeg nodes download ``Kijai/clipseg-rd64-refined-fp16`` (or
``CIDAS/clipseg-rd64-refined``) into ``<models>/clip_seg/<last part of the id>`` and build
transformers' ``CLIPSegForImageSegmentation`` and ``CLIPSegProcessor`` from there. wfrun
never downloads: it reads the same folder (config.json, the tokenizer files, the image
processor config, ``model.safetensors``).

Weights go through ``models.reader`` (safetensors only; a ``pytorch_model.bin`` is refused
unless the run opted into pickles, and then read weights-only), not ``from_pretrained``,
which would pick a pickle when no safetensors file is there. The image processor is
transformers' Pillow one (``ViTImageProcessorPil``): the pack ran on transformers 4, whose
ViT processor resized with Pillow; transformers 5 picks a torchvision backend when
torchvision is installed, whose resize differs slightly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import torch

from wfrun.models.config_json import read_json_object
from wfrun.models.header import CheckpointError
from wfrun.models.paths import ModelPathError, ModelRoots
from wfrun.models.reader import PICKLE_SUFFIXES, open_checkpoint

#: The models folder the pack downloads into (``ComfyUI/models/clip_seg``).
FOLDER = "clip_seg"
#: Where the pack publishes the models it offers, by folder name.
SOURCES = {"clipseg-rd64-refined-fp16": "https://huggingface.co/Kijai/clipseg-rd64-refined-fp16",
           "clipseg-rd64-refined": "https://huggingface.co/CIDAS/clipseg-rd64-refined"}
#: Largest JSON file read from the folder (the real tokenizer.json is ~2 MB).
#: Tensors older transformers saved that current ones rebuild (buffers, not weights).
REBUILT_KEYS = ("position_ids",)


class ClipSegError(ValueError):
    """The folder does not hold a CLIPSeg model wfrun can build; the message says why."""


@dataclass(frozen=True)
class ClipSegParts:
    model: object
    processor: object
    folder: Path


def folder_name(model: str) -> str:
    """The folder a repository id lands in: its last part, as the pack does
    (``Kijai/clipseg-rd64-refined-fp16`` -> ``clipseg-rd64-refined-fp16``)."""
    name = PurePosixPath(str(model).replace("\\", "/")).name
    if not name or name in (".", "..") or "\0" in name or ":" in name:
        raise ModelPathError(f"{model!r} does not name a model folder")
    return name


def find_clipseg_folder(roots: ModelRoots, model: str) -> Path:
    """The folder of repository ``model`` in the ``clip_seg`` models folders (any root), a
    folder with a ``config.json``; never a path out of them."""
    name = folder_name(model)
    searched = roots.folders(FOLDER)
    for base in searched:
        if (base / name / "config.json").is_file():
            return base / name
    for base in searched:  # saved on Windows or macOS, where names ignore case
        if base.is_dir():
            same = [c for c in base.iterdir() if c.is_dir() and c.name.casefold() == name.casefold()
                    and (c / "config.json").is_file()]
            if len(same) == 1:
                return same[0]
    if not searched:
        raise ModelPathError(f"{model!r}: no models folder to look in; give one with --models DIR")
    raise ModelPathError(f"no CLIPSeg folder {name!r} (with a config.json) in the {FOLDER} models folders "
                         "searched: " + ", ".join(str(p) for p in searched))


def missing_hint(roots: ModelRoots, model: str) -> str:
    """Where to get ``model`` and where to put it, for the error of a missing folder."""
    name = folder_name(model)
    searched = roots.folders(FOLDER)
    target = (searched[0] if searched else Path("<models>") / FOLDER) / name
    source = SOURCES.get(name, f"https://huggingface.co/{model}" if "/" in str(model) else "its Hugging Face page")
    return (f"wfrun never downloads models: get the files of {source} (config.json, the tokenizer and "
            f"preprocessor files, model.safetensors) and put them in {target}, or give the models folder "
            "with --models DIR")


def _read_json(path: Path) -> dict:
    return read_json_object(path, ClipSegError, "a model config")


def weight_files(folder: Path) -> list[Path]:
    safe = sorted(p for p in folder.glob("*.safetensors") if p.is_file())
    if safe:
        return safe
    pickles = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in PICKLE_SUFFIXES)
    if pickles:
        return pickles  # the reader refuses them without the run's opt-in
    raise ClipSegError(f"{folder}: no model.safetensors (nor any weights file)")


def load_processor(folder: Path):
    """The pack's ``CLIPSegProcessor``: the folder's CLIP tokenizer and its ViT image
    processor settings, with transformers' Pillow backend (see the module docstring)."""
    from transformers import CLIPSegProcessor, CLIPTokenizer
    from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

    try:
        tokenizer = CLIPTokenizer.from_pretrained(str(folder), local_files_only=True)
        image_processor = ViTImageProcessorPil.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, TypeError) as err:
        raise ClipSegError(f"{folder}: no usable tokenizer or image processor files ({str(err).splitlines()[0]})") \
            from None
    return CLIPSegProcessor(image_processor=image_processor, tokenizer=tokenizer)


def load_clipseg(folder: str | Path, *, dtype: torch.dtype = torch.float32) -> ClipSegParts:
    """Build the model (eval mode, no gradients, weights in ``dtype``) and processor a CLIPSeg
    folder holds."""
    from transformers import CLIPSegConfig, CLIPSegForImageSegmentation

    folder = Path(folder)
    try:
        config = CLIPSegConfig.from_dict(_read_json(folder / "config.json"))
    except (TypeError, ValueError) as err:
        if isinstance(err, ClipSegError):
            raise
        raise ClipSegError(f"{folder}/config.json: not a CLIPSeg config ({err})") from None
    state: dict[str, torch.Tensor] = {}
    try:
        for path in weight_files(folder):
            with open_checkpoint(path) as reader:
                for name, tensor in reader.iter_tensors():
                    state[name] = tensor
    except CheckpointError as err:
        raise ClipSegError(str(err).splitlines()[0]) from None
    model = CLIPSegForImageSegmentation(config)
    expected = model.state_dict()
    unknown = sorted(k for k in set(state) - set(expected) if not k.endswith(REBUILT_KEYS))
    if unknown:
        raise ClipSegError(f"{folder}: tensors CLIPSeg has no place for: {', '.join(unknown[:5])}")
    missing = sorted(k for k in set(expected) - set(state) if not k.endswith(REBUILT_KEYS))
    if missing:
        raise ClipSegError(f"{folder}: no weights for {', '.join(missing[:5])}")
    for name, tensor in state.items():
        if name in expected and tuple(tensor.shape) != tuple(expected[name].shape):
            raise ClipSegError(f"{folder}: {name} is {tuple(tensor.shape)}, the config says "
                               f"{tuple(expected[name].shape)}")
    model.load_state_dict({k: v for k, v in state.items() if k in expected}, strict=False)
    model.to(dtype).eval().requires_grad_(False)
    return ClipSegParts(model, load_processor(folder), folder)


__all__ = ["FOLDER", "SOURCES", "ClipSegError", "ClipSegParts", "find_clipseg_folder", "folder_name",
           "load_clipseg", "load_processor", "missing_hint"]
