"""The UMT5 tokenizer and the CLIP image processor, found or built offline.

UMT5-XXL needs its sentencepiece vocabulary (256k pieces; *not* the 32k English T5 one
that ComfyUI ships in ``comfy/text_encoders/t5_tokenizer``). Users already have it in one
of these places, searched in this order:

1. inside the text encoder file: ComfyUI's ``umt5_xxl_*.safetensors`` carry it as a
   ``spiece_model`` byte tensor (ComfyUI reads it from there, it ships no UMT5 vocabulary);
2. next to the text encoder file, or in a ``umt5-xxl``/``google/umt5-xxl``/``tokenizer``/
   ``T5_tokenizer`` folder beside it (the original Wan release keeps ``google/umt5-xxl/``
   inside the model folder);
3. the same sub-folders of every ``text_encoders``/``clip`` and ``tokenizers`` models folder;
4. a ComfyUI-WanVideoWrapper install (it ships ``configs/T5_tokenizer/``): the wrapper folder
   itself, or ``custom_nodes/*WanVideoWrapper*`` of a ComfyUI folder, or a ``custom_nodes``
   folder named in extra_model_paths.yaml;
5. the Hugging Face cache (``google/umt5-xxl``, or the ``tokenizer/`` of a Wan diffusers
   repo), read as plain files;
6. only where allowed (``download=True`` or ``WFRUN_ALLOW_DOWNLOAD=1``, and not
   ``HF_HUB_OFFLINE``): fetched from ``google/umt5-xxl`` into the Hugging Face cache.

A ComfyUI install is found from ``comfyui_dir=``, the ``WFRUN_COMFYUI`` variable, or a models
folder named ``models`` (its parent is taken for the ComfyUI folder).

A folder with ``tokenizer.json`` gives transformers' fast tokenizer (what diffusers and Wan
use); a bare ``spiece.model`` (or the embedded bytes) gives ``SentencePieceTokenizer``, which
calls sentencepiece directly, as ComfyUI does. (transformers 5 can only convert a
``spiece.model`` with ``protobuf`` installed; this avoids that dependency.)
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch

from wfrun.models.header import CheckpointError
from wfrun.models.mapping import bundled_config
from wfrun.models.paths import ModelRoots

SUBFOLDERS = ("", "umt5-xxl", "google/umt5-xxl", "umt5_xxl", "tokenizer", "T5_tokenizer")


class TokenizerError(ValueError):
    """No usable tokenizer; the message says where wfrun looked and where to put one."""


@dataclass(frozen=True)
class TokenizerSource:
    """Where a tokenizer was found: ``kind`` is embedded, tokenizer.json or spiece.model."""

    kind: str
    path: Path


def hf_hub_cache() -> Path:
    """The Hugging Face hub cache folder, from the same variables huggingface_hub reads."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def candidate_folders(text_encoder: Path | None = None, *, roots: ModelRoots | None = None,
                      comfyui_dir: str | Path | None = None, wrapper_dir: str | Path | None = None,
                      hf_cache: str | Path | None = None) -> list[Path]:
    """Every folder that may hold the UMT5 tokenizer, in search order (existing or not)."""
    folders: list[Path] = []
    if text_encoder is not None:
        folders += [Path(text_encoder).parent / sub for sub in SUBFOLDERS]
    if roots is not None:
        for base in roots.folders("text_encoders") + roots.folders("tokenizers"):
            folders += [base / sub for sub in SUBFOLDERS]
    if wrapper_dir is not None:
        folders.append(Path(wrapper_dir) / "configs" / "T5_tokenizer")
    comfy_dirs = [Path(comfyui_dir)] if comfyui_dir is not None else []
    comfy_dirs += [Path(p) for p in os.environ.get("WFRUN_COMFYUI", "").split(os.pathsep) if p]
    if roots is not None:  # a models folder inside a ComfyUI install: that install's custom nodes
        comfy_dirs += [root.parent for root in roots.roots if root.name == "models"]
    custom = [folder / "custom_nodes" for folder in comfy_dirs]
    if roots is not None:
        custom += roots.folders("custom_nodes")
    for base in dict.fromkeys(custom):
        for wrapper in sorted(base.glob("*")):
            if "wanvideowrapper" in wrapper.name.lower():
                folders.append(wrapper / "configs" / "T5_tokenizer")
    hub = Path(hf_cache) if hf_cache is not None else hf_hub_cache()
    patterns = ("models--google--umt5-xxl/snapshots/*", "models--Wan-AI--Wan2.1-*/snapshots/*/tokenizer",
                "models--Wan-AI--Wan2.1-*/snapshots/*/google/umt5-xxl")
    for pattern in patterns:
        folders += [Path(p) for p in sorted(glob.glob(str(hub / pattern)))]
    return list(dict.fromkeys(folders))


#: The Hugging Face repository the UMT5 tokenizer is fetched from, where fetching is allowed.
HF_REPO = "google/umt5-xxl"


def download_allowed(download: bool | None) -> bool:
    """Fetching is opt-in (``download=True`` or ``WFRUN_ALLOW_DOWNLOAD=1``) and never
    happens when huggingface_hub is told to stay offline."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    if download is not None:
        return download
    return os.environ.get("WFRUN_ALLOW_DOWNLOAD", "").lower() in ("1", "true", "yes")


def fetch_umt5_tokenizer(hf_cache: str | Path | None = None) -> TokenizerSource:
    """``tokenizer.json`` (else ``spiece.model``) of google/umt5-xxl into the Hugging Face cache."""
    from huggingface_hub import hf_hub_download

    failures = []
    for name in ("tokenizer.json", "spiece.model"):
        try:
            path = hf_hub_download(HF_REPO, name, cache_dir=str(hf_cache) if hf_cache is not None else None)
            return TokenizerSource(name, Path(path))
        except Exception as err:  # noqa: BLE001 - no network, no such file, a proxy: all the same to the user
            failures.append(f"{name}: {type(err).__name__}")
    raise TokenizerError(f"could not fetch the UMT5 tokenizer from {HF_REPO} ({'; '.join(failures)})")


def find_umt5_tokenizer(text_encoder: str | Path | None = None, *, download: bool | None = None,
                        **where: Any) -> TokenizerSource:
    """The first UMT5 tokenizer found (see the module docstring for the order); fetched from
    the hub only where ``download_allowed``."""
    text_encoder = Path(text_encoder) if text_encoder is not None else None
    if text_encoder is not None and text_encoder.suffix.lower() in (".safetensors", ".sft") and text_encoder.is_file():
        from wfrun.models.header import read_header

        try:
            if "spiece_model" in read_header(text_encoder):
                return TokenizerSource("embedded", text_encoder)
        except CheckpointError:
            pass
    searched = candidate_folders(text_encoder, **where)
    for folder in searched:
        for name in ("tokenizer.json", "spiece.model"):
            if (folder / name).is_file():
                return TokenizerSource(name, folder / name)
    fetched = ""
    if download_allowed(download):
        try:
            return fetch_umt5_tokenizer(where.get("hf_cache"))
        except TokenizerError as err:
            fetched = f"; {err}"
    else:
        fetched = "; set WFRUN_ALLOW_DOWNLOAD=1 to fetch it from the Hugging Face hub where there is network"
    shown = ", ".join(str(p) for p in searched[:3]) + (f" and {len(searched) - 3} more" if len(searched) > 3 else "")
    roots = where.get("roots")
    models = roots.folders("text_encoders")[0] if roots is not None and roots.folders("text_encoders") else None
    target = f"{models}/umt5-xxl/" if models else "a umt5-xxl/ folder next to the text encoder file"
    owner = f" for {text_encoder}" if text_encoder is not None else ""
    raise TokenizerError(
        f"no UMT5 tokenizer found{owner} (looked in {shown or 'no folders'}); put spiece.model or tokenizer.json "
        f"of google/umt5-xxl (ComfyUI-WanVideoWrapper ships them in configs/T5_tokenizer/) into {target}{fetched}")


def load_umt5_tokenizer(text_encoder: str | Path | None = None, *, vocab_size: int | None = None,
                        download: bool | None = None, **where: Any):
    """Find and load the UMT5 tokenizer; ``vocab_size`` (embedding rows) catches a wrong vocabulary."""
    source = find_umt5_tokenizer(text_encoder, download=download, **where)
    tokenizer = tokenizer_from(source)
    if vocab_size is None and text_encoder is not None and Path(text_encoder).suffix.lower() in (".safetensors", ".sft"):
        vocab_size = _embedding_rows(Path(text_encoder))
    check_vocabulary(tokenizer, vocab_size, source)
    return tokenizer


def tokenizer_from(source: TokenizerSource):
    if source.kind == "embedded":
        from wfrun.models.reader import open_checkpoint

        with open_checkpoint(source.path) as reader:
            data = reader.read("spiece_model")
        return SentencePieceTokenizer(data.numpy().tobytes(), f"{source.path} (embedded spiece_model)")
    if source.kind == "spiece.model":
        return SentencePieceTokenizer(source.path.read_bytes(), str(source.path))
    from transformers import PreTrainedTokenizerFast

    try:
        return PreTrainedTokenizerFast(tokenizer_file=str(source.path), pad_token="<pad>", eos_token="</s>",
                                       unk_token="<unk>", model_max_length=512)
    except Exception as err:  # noqa: BLE001 - a broken tokenizer.json is the file's fault
        raise TokenizerError(f"{source.path}: not a readable tokenizer.json ({type(err).__name__})") from None


def check_vocabulary(tokenizer, vocab_size: int | None, source: TokenizerSource) -> None:
    if vocab_size is None:
        return
    size = len(tokenizer)
    if size > vocab_size:
        raise TokenizerError(f"{source.path}: tokenizer has {size} tokens but the text encoder only {vocab_size} "
                             "embeddings; it is not the UMT5 tokenizer")
    if vocab_size >= 250_000 and size < 100_000:
        raise TokenizerError(f"{source.path}: tokenizer has {size} tokens, like the English T5 one; UMT5-XXL "
                             "needs the 256k-piece google/umt5-xxl tokenizer")


def _embedding_rows(path: Path) -> int | None:
    from wfrun.models.header import read_header

    try:
        header = read_header(path)
    except CheckpointError:
        return None
    for key, entry in header.items():
        if key.endswith(("shared.weight", "token_embedding.weight")):
            return entry["shape"][0]
    return None


class SentencePieceTokenizer:
    """A sentencepiece model, callable like a transformers tokenizer for what pipelines ask.

    Supports ``tokenizer(texts, padding="max_length"|"longest"|bool, max_length=,
    truncation=, add_special_tokens=, return_attention_mask=, return_tensors="pt")``:
    the end-of-sequence token is appended (and kept when truncating), padding uses the pad id.
    """

    def __init__(self, model_proto: bytes, name: str = "spiece.model"):
        import sentencepiece as spm

        self.name = name
        try:
            self.sp = spm.SentencePieceProcessor(model_proto=model_proto)
        except Exception as err:  # noqa: BLE001 - sentencepiece raises plain RuntimeError/OSError
            raise TokenizerError(f"{name}: not a sentencepiece model ({type(err).__name__})") from None
        self.pad_token_id = max(self.sp.pad_id(), 0)
        self.eos_token_id = self.sp.eos_id()
        self.unk_token_id = self.sp.unk_id()
        self.model_max_length = 512

    def __len__(self) -> int:
        return self.sp.get_piece_size()

    def __repr__(self) -> str:
        return f"SentencePieceTokenizer({self.name!r}, {len(self)} pieces)"

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        ids = self.sp.encode(text)
        return ids + [self.eos_token_id] if add_special_tokens and self.eos_token_id >= 0 else ids

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        ids = [int(i) for i in ids]
        if skip_special_tokens:
            ids = [i for i in ids if i not in (self.pad_token_id, self.eos_token_id)]
        return self.sp.decode(ids)

    def __call__(self, text, padding: bool | str = False, max_length: int | None = None, truncation: bool = False,
                 add_special_tokens: bool = True, return_attention_mask: bool = True, return_tensors: str | None = None,
                 **_: Any):
        from transformers import BatchEncoding

        single = isinstance(text, str)
        texts = [text] if single else list(text)
        rows = []
        for item in texts:
            ids = self.sp.encode(item)
            if truncation and max_length is not None:
                ids = ids[: max_length - (1 if add_special_tokens else 0)]
            if add_special_tokens and self.eos_token_id >= 0:
                ids = ids + [self.eos_token_id]
            rows.append(ids)
        width = None
        if padding in ("max_length",) and max_length is not None:
            width = max_length
        elif padding in (True, "longest"):
            width = max(map(len, rows))
        masks = [[1] * len(r) for r in rows]
        if width is not None:
            masks = [m + [0] * (width - len(m)) for m in masks]
            rows = [r + [self.pad_token_id] * (width - len(r)) for r in rows]
        data: dict[str, Any] = {"input_ids": rows}
        if return_attention_mask:
            data["attention_mask"] = masks
        if return_tensors == "pt":
            data = {k: torch.tensor(v, dtype=torch.long) for k, v in data.items()}
        elif single:
            data = {k: v[0] for k, v in data.items()}
        return BatchEncoding(data)


def clip_image_processor(image_size: int = 224, *, crop: bool = True):
    """transformers' CLIP image processor from bundled constants (no hub access).

    ``crop=True`` resizes the short side and centre-crops, as ComfyUI's ``clip_preprocess``
    does by default; ``crop=False`` squeezes the whole image to a square, as Wan's own code
    does.
    """
    from transformers.utils import is_torchvision_available

    if is_torchvision_available():
        from transformers import CLIPImageProcessor as Processor
    else:
        from transformers import CLIPImageProcessorPil as Processor
    config = bundled_config("clip_image_processor.json")
    if crop:
        config.update(size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size})
    else:
        config.update(size={"height": image_size, "width": image_size}, do_center_crop=False)
    return Processor(**config)


# --- SAM 3's CLIP tokenizer ---------------------------------------------------------------

#: Folders beside a SAM 3 checkpoint (or in a ``tokenizers`` models folder) that may hold
#: CLIP's ``vocab.json`` + ``merges.txt``.
CLIP_SUBFOLDERS = ("sam3_tokenizer", "clip_tokenizer", "sd1_tokenizer", "tokenizer", "sam3", "clip")
#: Hugging Face repositories whose snapshots carry the same CLIP BPE files.
CLIP_HF_REPOS = ("facebook--sam3", "openai--clip-vit-large-patch14", "openai--clip-vit-base-patch32")


def clip_tokenizer_folders(checkpoint: Path | None = None, *, roots: ModelRoots | None = None,
                           comfyui_dir: str | Path | None = None, hf_cache: str | Path | None = None) -> list[Path]:
    """Every folder that may hold the CLIP BPE tokenizer SAM 3's text encoder reads, in search
    order: beside the checkpoint; the ``tokenizers`` and ``checkpoints`` models folders;
    ComfyUI's own ``comfy/sd1_tokenizer`` (the one its SAM 3 text encoder uses); the Hugging
    Face cache (``facebook/sam3`` or an OpenAI CLIP: the vocabulary is the same)."""
    folders: list[Path] = []
    if checkpoint is not None:
        folders += [Path(checkpoint).parent / sub for sub in CLIP_SUBFOLDERS]
    if roots is not None:
        for base in roots.folders("tokenizers") + roots.folders("checkpoints"):
            folders += [base / sub for sub in CLIP_SUBFOLDERS]
    comfy_dirs = [Path(comfyui_dir)] if comfyui_dir is not None else []
    comfy_dirs += [Path(p) for p in os.environ.get("WFRUN_COMFYUI", "").split(os.pathsep) if p]
    if roots is not None:
        comfy_dirs += [root.parent for root in roots.roots if root.name == "models"]
    folders += [folder / "comfy" / "sd1_tokenizer" for folder in comfy_dirs]
    hub = Path(hf_cache) if hf_cache is not None else hf_hub_cache()
    for repo in CLIP_HF_REPOS:
        folders += [Path(p) for p in sorted(glob.glob(str(hub / f"models--{repo}" / "snapshots" / "*")))]
    return list(dict.fromkeys(folders))


def load_clip_tokenizer(checkpoint: str | Path | None = None, *, vocab_size: int | None = None, **where: Any):
    """transformers' ``CLIPTokenizer`` from the first folder holding ``vocab.json`` and
    ``merges.txt`` (see :func:`clip_tokenizer_folders`); never downloads. ``vocab_size``
    (the text encoder's embedding rows) catches a vocabulary that is not the encoder's."""
    from transformers import CLIPTokenizer

    checkpoint = Path(checkpoint) if checkpoint is not None else None
    searched = clip_tokenizer_folders(checkpoint, **where)
    for folder in searched:
        vocab, merges = folder / "vocab.json", folder / "merges.txt"
        if vocab.is_file() and merges.is_file():
            try:
                tokenizer = CLIPTokenizer(vocab=str(vocab), merges=str(merges))
            except Exception as err:  # noqa: BLE001 - a broken file is the file's fault
                raise TokenizerError(f"{folder}: not a readable CLIP vocab.json/merges.txt ({type(err).__name__})") \
                    from None
            if vocab_size is not None and len(tokenizer) != vocab_size:
                raise TokenizerError(f"{folder}: the CLIP tokenizer has {len(tokenizer)} tokens but the text encoder "
                                     f"{vocab_size} embeddings; it is not this model's vocabulary")
            return tokenizer
    shown = ", ".join(str(p) for p in searched[:3]) + (f" and {len(searched) - 3} more" if len(searched) > 3 else "")
    beside = f"{checkpoint.parent}/sam3_tokenizer/" if checkpoint is not None else "a sam3_tokenizer/ folder"
    raise TokenizerError(f"no CLIP tokenizer found for SAM 3's text encoder (looked in {shown or 'no folders'}); put "
                         f"CLIP's vocab.json and merges.txt (ComfyUI ships them in comfy/sd1_tokenizer/) into {beside}, "
                         "or set WFRUN_COMFYUI to your ComfyUI folder")


__all__ = ["SentencePieceTokenizer", "TokenizerError", "TokenizerSource", "candidate_folders", "clip_image_processor",
           "download_allowed", "fetch_umt5_tokenizer", "find_umt5_tokenizer", "hf_hub_cache", "load_umt5_tokenizer",
           "tokenizer_from", "clip_tokenizer_folders", "load_clip_tokenizer"]
