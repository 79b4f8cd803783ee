"""Florence-2 folders: finding them, and building transformers' Florence-2 from them, offline.

kijai's ComfyUI-Florence2 downloads a Hugging Face repository ``owner/name`` into
``ComfyUI/models/LLM/<name>`` and loads it with remote code. wfrun never downloads and never
runs remote code: it looks for the same folder in every ``LLM`` models folder and builds
``transformers.Florence2ForConditionalGeneration`` and ``Florence2Processor`` from its files.

Two layouts are read:

- **transformers** (``florence-community/*`` and files saved by transformers): the config's
  vision part is ``florence_vision``; tensors load as they are.
- **original** (``microsoft/Florence-2-*`` and the fine-tunes made with its remote code,
  e.g. MiaoshouAI's PromptGen): ``model_type: florence2`` with a ``davit`` vision config,
  keys such as ``vision_tower.convs.0.proj.weight`` and ``language_model.model.*``. The
  config and keys are converted here (the renames transformers' own conversion script
  makes; ``image_projection`` is stored transposed there), the BART tokenizer gets the
  Florence-2 tags the remote processor adds at load time (``<od>``, the 1000 ``<loc_N>``
  bins, ``<cap>``, ...) plus transformers' ``<image>`` placeholder, whose embedding row is
  added as zeros and which generation never emits.

The model is built on the meta device and the tensors assigned, so no random initialisation
runs. Weights are read with ``models.reader``: safetensors only, a ``pytorch_model.bin``
only with the run's ``--allow-pickle`` opt-in (then ``torch.load(weights_only=True)``).
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import torch

from wfrun.models.config_json import MAX_JSON_BYTES, read_json_object
from wfrun.models.paths import ModelPathError, ModelRoots, find_model_folder
from wfrun.models.reader import PICKLE_SUFFIXES, open_checkpoint

#: The models sub-folder ComfyUI-Florence2 downloads into (``ComfyUI/models/LLM``).
FOLDER = "LLM"
#: Largest JSON file read from a model folder (configs and tokenizers are a few MB).


class Florence2Error(ValueError):
    """The folder is not a Florence-2 model wfrun can build; the message says why."""


def folder_name(model: str) -> str:
    """The folder a repository id is downloaded to: its last part, as the pack does
    (``microsoft/Florence-2-base`` -> ``Florence-2-base``)."""
    name = str(model).replace("\\", "/").rsplit("/", 1)[-1]
    if not name or name in (".", "..") or "\0" in name or ":" in name:
        raise ModelPathError(f"{model!r} does not name a model folder")
    return name


def find_florence2_folder(roots: ModelRoots, model: str, *, repo_id: bool = True) -> Path:
    """The folder for ``model`` in the ``LLM`` models folders: a repository id (the
    downloading loader) or a folder name (``Florence2ModelLoader``), never a path out."""
    name = folder_name(model) if repo_id else str(PurePosixPath(str(model).replace("\\", "/")))
    if not repo_id and (name.startswith("/") or ".." in PurePosixPath(name).parts or not name or ":" in name):
        raise ModelPathError(f"{model!r} is not a plain folder name inside a models folder")
    return find_model_folder(roots.folders(FOLDER), name, f"the {FOLDER} models folders")


def _read_json(path: Path) -> dict:
    return read_json_object(path, Florence2Error, "a Florence-2 file")


def layout_of(config: dict) -> str:
    """``"transformers"`` or ``"original"`` for a ``config.json``; Florence2Error otherwise."""
    if config.get("model_type") != "florence2":
        raise Florence2Error(f"model_type is {config.get('model_type')!r}, not 'florence2'")
    vision = config.get("vision_config") or {}
    if vision.get("model_type") == "davit" or "dim_embed" in vision:
        return "original"
    return "transformers"


# --- the original (remote code) layout ----------------------------------------------------


def convert_original_config(config: dict, vocab_size: int, image_token_id: int):
    """transformers' ``Florence2Config`` for an original ``config.json`` (vocabulary grown
    to ``vocab_size`` for the ``<image>`` placeholder)."""
    from transformers import Florence2Config

    vision = dict(config.get("vision_config") or {})
    text = dict(config.get("text_config") or {})
    try:
        converted_vision = dict(
            in_channels=vision.get("in_chans", 3), depths=list(vision["depths"]), patch_size=list(vision["patch_size"]),
            patch_stride=list(vision["patch_stride"]), patch_padding=list(vision["patch_padding"]),
            patch_prenorm=list(vision["patch_prenorm"]), embed_dim=list(vision["dim_embed"]),
            num_heads=list(vision["num_heads"]), num_groups=list(vision["num_groups"]),
            window_size=int(vision["window_size"]), projection_dim=int(vision["projection_dim"]),
            max_temporal_embeddings=int(vision["visual_temporal_embedding"]["max_temporal_embeddings"]),
            max_position_embeddings=int(vision["image_pos_embed"]["max_pos_embeddings"]),
            drop_path_rate=0.0)
    except (KeyError, TypeError, ValueError) as err:
        raise Florence2Error(f"the vision config lacks {err} or has it in an unknown form") from None
    text.pop("model_type", None)
    text.pop("architectures", None)
    text.pop("auto_map", None)
    text["vocab_size"] = vocab_size
    known = {k: text[k] for k in text if not k.startswith("_")}
    return Florence2Config(vision_config=converted_vision, text_config=known, image_token_id=image_token_id,
                           bos_token_id=text.get("bos_token_id", 0), pad_token_id=text.get("pad_token_id", 1),
                           eos_token_id=text.get("eos_token_id", 2),
                           decoder_start_token_id=text.get("decoder_start_token_id", 2))


#: Original key pieces and transformers' names for them, in the vision tower's blocks.
_BLOCK_RENAMES = (
    ("conv1.fn.dw.", "conv1."), ("conv2.fn.dw.", "conv2."),
    ("window_attn.norm.", "norm1."), ("channel_attn.norm.", "norm1."),
    ("window_attn.fn.", "window_attn."), ("channel_attn.fn.", "channel_attn."),
    ("ffn.norm.", "norm2."), ("ffn.fn.net.", "ffn."),
)
_PROJECTOR = {
    "image_projection": "model.multi_modal_projector.image_projection.weight",
    "image_proj_norm.weight": "model.multi_modal_projector.image_proj_norm.weight",
    "image_proj_norm.bias": "model.multi_modal_projector.image_proj_norm.bias",
    "image_pos_embed.row_embeddings.weight": "model.multi_modal_projector.image_position_embed.row_embeddings.weight",
    "image_pos_embed.column_embeddings.weight":
        "model.multi_modal_projector.image_position_embed.column_embeddings.weight",
    "visual_temporal_embed.pos_idx_to_embed": "model.multi_modal_projector.visual_temporal_embed.pos_idx_to_embed",
}


def convert_original_key(key: str) -> str | None:
    """transformers' name for an original Florence-2 key; None for keys it has no use for."""
    if key in _PROJECTOR:
        return _PROJECTOR[key]
    if key.startswith("vision_tower.convs."):
        return "model." + key.replace(".proj.", ".conv.")
    if key.startswith("vision_tower.blocks."):
        for old, new in _BLOCK_RENAMES:
            key = key.replace(old, new)
        return "model." + key
    if key == "language_model.lm_head.weight":
        return "lm_head.weight"
    if key.startswith("language_model.model."):
        return "model.language_model." + key.removeprefix("language_model.model.")
    if key == "language_model.final_logits_bias":
        return None  # BART's zero bias; transformers' Florence-2 has none (checked non-zero below)
    return key


def convert_original_state_dict(state: dict[str, torch.Tensor], vocab_size: int) -> dict[str, torch.Tensor]:
    """Original tensors under transformers' names; the token embeddings padded with zero rows
    to ``vocab_size``."""
    out: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        new = convert_original_key(key)
        if new is None:
            if key == "language_model.final_logits_bias" and tensor.abs().max() > 0:
                raise Florence2Error("the checkpoint has a non-zero final_logits_bias, which transformers' "
                                     "Florence-2 cannot hold")
            continue
        if key == "image_projection":
            tensor = tensor.t().contiguous()  # the original multiplies x @ W; nn.Linear holds W^T
        out[new] = tensor
    for name, tensor in list(out.items()):
        if (name.endswith("embed_tokens.weight") or name.endswith("shared.weight") or name == "lm_head.weight") \
                and tensor.shape[0] < vocab_size:
            pad = tensor.new_zeros((vocab_size - tensor.shape[0], tensor.shape[1]))
            out[name] = torch.cat([tensor, pad])
    return out


def original_processor(folder: Path):
    """``Florence2Processor`` for an original folder: its BART tokenizer with the tags the
    remote processor adds, ``<image>`` after them, and its CLIP image processor settings."""
    from tokenizers import AddedToken
    from transformers import CLIPImageProcessor, Florence2Processor, PreTrainedTokenizerFast

    from wfrun.models.florence2_tiny import ADDED_TOKENS, IMAGE_TOKEN, POST_PROCESSOR_CONFIG

    if not (folder / "tokenizer.json").is_file():
        raise Florence2Error(f"{folder}: no tokenizer.json (the Hugging Face repository has one: copy it in)")
    if (folder / "tokenizer.json").stat().st_size > MAX_JSON_BYTES:
        raise Florence2Error(f"{folder / 'tokenizer.json'}: larger than any Florence-2 tokenizer")
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"), bos_token="<s>",
                                        eos_token="</s>", pad_token="<pad>", unk_token="<unk>",
                                        model_max_length=1024)
    vocab = tokenizer.get_vocab()
    missing = [t for t in ADDED_TOKENS if t not in vocab]
    if missing:
        tokenizer.add_special_tokens({"additional_special_tokens": [
            AddedToken(t, special=True, normalized=False) for t in missing]})
    image = AddedToken(IMAGE_TOKEN, special=True, normalized=False)
    tokenizer.add_special_tokens({"additional_special_tokens": [image]}, replace_extra_special_tokens=False)
    tokenizer.image_token = IMAGE_TOKEN
    tokenizer.image_token_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    pre = _read_json(folder / "preprocessor_config.json")
    size = pre.get("size") or {"height": 768, "width": 768}
    image_processor = CLIPImageProcessor(
        do_resize=pre.get("do_resize", True), size=size, do_center_crop=False, crop_size=pre.get("crop_size", size),
        do_rescale=pre.get("do_rescale", True), rescale_factor=pre.get("rescale_factor", 1 / 255),
        do_normalize=pre.get("do_normalize", True), image_mean=pre.get("image_mean", [0.485, 0.456, 0.406]),
        image_std=pre.get("image_std", [0.229, 0.224, 0.225]), resample=pre.get("resample", 3),
        do_convert_rgb=False)
    image_processor.image_seq_length = int(pre.get("image_seq_length", 577))
    return Florence2Processor(image_processor=image_processor, tokenizer=tokenizer,
                              post_processor_config=POST_PROCESSOR_CONFIG)


#: Generation settings the original text config carries (``no_repeat_ngram_size: 3``,
#: ``early_stopping``, ``forced_bos_token_id``, ...). The remote code's ``generate`` hands
#: over to its BART language model, whose generation config is built from that text config,
#: so these apply in the pack; transformers 5's configs drop them, so they are carried here.
GENERATION_KEYS = ("bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id", "forced_bos_token_id",
                   "forced_eos_token_id", "no_repeat_ngram_size", "early_stopping", "length_penalty",
                   "repetition_penalty", "min_length", "max_length", "num_beams")


def original_generation_config(raw: dict, image_token_id: int):
    """The generation config of an original folder: its text config's generation settings,
    and ``<image>`` (a placeholder transformers adds, never trained) suppressed."""
    from transformers import GenerationConfig

    text = raw.get("text_config") or {}
    settings = {k: text[k] for k in GENERATION_KEYS if text.get(k) is not None}
    config = GenerationConfig(**settings)
    config.suppress_tokens = [image_token_id]
    return config


def original_dequantize(self, locations: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bin indices to pixels as the original post-processor does: the centre of each of the
    1000 bins per side, ``(bin + 0.5) * size / 1000``, kept as floats. transformers' own
    post-processor truncates the result to integers; the pack (on the remote code) hands
    the float boxes to its mask, its ``data`` output and Florence2toCoordinates."""
    bins_w, bins_h = self.quantize_bins
    size_w, size_h = size
    per_bin_w, per_bin_h = size_w / bins_w, size_h / bins_h
    if locations.shape[-1] not in (2, 4):
        raise ValueError(f"locations of {locations.shape[-1]} values; expected 2 (points) or 4 (boxes)")
    # the original's arithmetic: integer bins + 0.5 (float32), times the bin size
    parts = locations.split(1, dim=-1)
    return torch.cat([(part + 0.5) * (per_bin_w if i % 2 == 0 else per_bin_h) for i, part in enumerate(parts)],
                     dim=-1)


def use_original_dequantize(processor) -> None:
    """Make ``processor``'s post-processor return float coordinates (:func:`original_dequantize`)."""
    post = processor.post_processor
    post.dequantize = types.MethodType(original_dequantize, post)


# --- loading ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Florence2Parts:
    model: Any      # transformers.Florence2ForConditionalGeneration, eval mode
    processor: Any  # transformers.Florence2Processor
    layout: str
    folder: Path


def weight_files(folder: Path) -> list[Path]:
    """The folder's weight files: every ``*.safetensors``, else the pickles (which the reader
    refuses without the run's opt-in)."""
    safe = sorted(p for p in folder.glob("*.safetensors") if p.is_file())
    if safe:
        return safe
    pickles = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in PICKLE_SUFFIXES)
    if pickles:
        return pickles
    raise Florence2Error(f"{folder}: no model.safetensors (nor any weights file)")


def read_tensors(folder: Path) -> dict[str, torch.Tensor]:
    tensors: dict[str, torch.Tensor] = {}
    for path in weight_files(folder):
        with open_checkpoint(path) as reader:
            for name, tensor in reader.iter_tensors():
                tensors[name] = tensor
    return tensors


def load_florence2(folder: str | Path, *, dtype: torch.dtype = torch.float32) -> Florence2Parts:
    """Build the model and processor a Florence-2 folder holds (either layout), in ``dtype``."""
    from transformers import Florence2Config, Florence2ForConditionalGeneration, Florence2Processor, GenerationConfig

    folder = Path(folder)
    raw = _read_json(folder / "config.json")
    layout = layout_of(raw)
    state = read_tensors(folder)
    if layout == "transformers":
        config = Florence2Config.from_dict(raw)
        processor = Florence2Processor.from_pretrained(str(folder), local_files_only=True)
    else:
        processor = original_processor(folder)
        vocab = len(processor.tokenizer)
        declared = int((raw.get("text_config") or {}).get("vocab_size", 0) or raw.get("vocab_size", 0))
        config = convert_original_config(raw, max(vocab, declared), processor.tokenizer.image_token_id)
        state = convert_original_state_dict(state, config.text_config.vocab_size)
    config._attn_implementation = "sdpa"
    with torch.device("meta"):
        model = Florence2ForConditionalGeneration(config)
    expected = model.state_dict()
    unknown = sorted(set(state) - set(expected))
    if unknown:
        raise Florence2Error(f"{folder}: tensors transformers' Florence-2 has no place for: {', '.join(unknown[:5])}")
    for name, tensor in state.items():
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise Florence2Error(f"{folder}: {name} is {tuple(tensor.shape)}, the config says "
                                 f"{tuple(expected[name].shape)}")
    model.load_state_dict({k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()},
                          strict=False, assign=True)
    model.tie_weights()
    left = [name for name, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if left:  # every tensor must come from the file; a leftover would be uninitialised memory
        raise Florence2Error(f"{folder}: no weights for {', '.join(left[:5])}")
    if layout == "original":
        model.generation_config = original_generation_config(raw, processor.tokenizer.image_token_id)
    elif (folder / "generation_config.json").is_file():
        model.generation_config = GenerationConfig.from_pretrained(str(folder), local_files_only=True)
    else:
        model.generation_config = GenerationConfig.from_model_config(config.text_config)
    model.eval().requires_grad_(False)
    use_original_dequantize(processor)
    return Florence2Parts(model, processor, layout, folder)


__all__ = ["FOLDER", "Florence2Error", "Florence2Parts", "find_florence2_folder", "folder_name", "layout_of",
           "load_florence2", "convert_original_key", "convert_original_state_dict", "convert_original_config"]
