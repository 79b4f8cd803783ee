"""Telling what a checkpoint is from its key names and shapes alone.

Users' folders mix files from Kijai's WanVideoWrapper (the original Wan key names), from
ComfyUI's repackaged releases (the same names under ``model.diffusion_model.``, or the
transformers names for UMT5 and CLIP vision) and others. A loader handed the wrong file
must say so in one line ("X is a Wan VAE, not a Wan transformer"), never fail with a
shape traceback, so every loader starts here. Only the header is read: detection of a
30 GB file takes milliseconds.

Facts the detection rests on (from the Wan 2.1, ComfyUI and WanVideoWrapper sources):

- transformer: ``patch_embedding.weight`` is ``[dim, in_dim, 1, 2, 2]``, ``head.head`` gives
  4 x the latent channels, and the parts it carries (CLIP projection ``img_emb``, FLF2V's
  ``img_emb.emb_pos``, VACE blocks, Fun Camera's ``control_adapter``, Fun's ``ref_conv``)
  name its family in ``models.families`` (which holds every channel count). 480P and 720P
  I2V models have identical shapes, so the resolution can only come from the file name, as
  does the Wan 2.2 A14B expert (high or low noise). Attention heads are 128 wide in every
  released Wan model.
- VAE: Wan 2.2's has residual down blocks (``encoder.downsamples.N.downsamples.M``) and 48
  latent channels (``models.families.wan_vae``).
- all-in-one checkpoints (``CheckpointLoaderSimple``) hold a transformer under
  ``model.diffusion_model.`` and a VAE / text encoder under their own prefixes:
  ``identify`` names the file by its transformer, ``identify_part`` finds the other parts.
- UMT5 has a relative position table in *every* block; T5 v1.1 (Flux/SD3) only in block 0.
- SAM 3 / SAM 3.1 (Meta's layout, which ComfyUI's ``sam3.1_multiplex`` release keeps): a
  ``detector.`` half (ViT trunk, FPN necks, CLIP text encoder, DETR encoder/decoder,
  segmentation head) and a ``tracker.model.`` half. SAM 3.1 ("multiplex") has three-level
  necks and extra ``propagation_convs``/``interactive_convs``; SAM 3 a fourth, half-size
  level and ``sam2_convs``.
- fp8 "scaled" files mark themselves with a ``scaled_fp8`` tensor and carry one
  ``<layer>.scale_weight`` (ComfyUI) or ``<layer>.weight_scale`` per quantized layer.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from wfrun.models.families import CLIP_HEADS_BY_WIDTH, classify_transformer, classify_vae, transformer_family
from wfrun.models.families.encoders import image_encoder_variant, text_encoder_variant
from wfrun.models.families.wan_transformer import (ANIMATE_FACE_EVERY, ANIMATE_MODULES, HUMO_MODULES, S2V_MODULES,
                                                   SIZES)
from wfrun.models.comfy_quant import EXTRA_SUFFIXES as _QUANT_EXTRAS
from wfrun.models.comfy_quant import logical_header
from wfrun.models.header import CheckpointError, TensorInfo

KIND_LABELS = {
    "wan_transformer": "a Wan transformer (diffusion model)",
    "wan_vace_module": "a Wan VACE module (VACE blocks only, loaded beside a text-to-video model)",
    "wan_vae": "a Wan VAE",
    "umt5": "a UMT5-XXL text encoder",
    "t5": "a T5 text encoder (not the UMT5-XXL that Wan uses)",
    "clip_vision": "a CLIP vision encoder",
    "sam3": "a SAM 3 segmentation checkpoint (detector, tracker and text encoder)",
    "lora": "a LoRA",
    "fantasytalking": "a FantasyTalking audio model (FantasyTalkingModelLoader, beside a Wan 2.1 I2V 14B model)",
    "multitalk": "a MultiTalk/InfiniteTalk audio patch (MultiTalkModelLoader or ModelPatchLoader, beside a Wan 2.1 "
                 "I2V 14B model)",
    "mel_band_roformer": "a Mel-Band RoFormer vocal separator (MelBandRoFormerModelLoader)",
    "unknown": "not a model file wfrun recognises",
}

#: The ComfyUI models folder each kind belongs in (for hints in error messages).
KIND_FOLDERS = {
    "wan_transformer": "diffusion_models", "wan_vace_module": "diffusion_models", "wan_vae": "vae",
    "fantasytalking": "diffusion_models", "multitalk": "diffusion_models", "mel_band_roformer": "diffusion_models", "umt5": "text_encoders",
    "t5": "text_encoders", "clip_vision": "clip_vision", "lora": "loras", "sam3": "checkpoints",
}

#: What the loader reading from each models folder takes (the inverse of ``KIND_FOLDERS``).
FOLDER_KINDS = {
    "diffusion_models": "wan_transformer", "unet": "wan_transformer", "vae": "wan_vae",
    "text_encoders": "umt5", "clip": "umt5", "clip_vision": "clip_vision", "loras": "lora",
    "unet_gguf": "wan_transformer", "clip_gguf": "umt5",  # ComfyUI-GGUF's views of those folders
    "model_gguf": "wan_transformer",  # calcuis' gguf pack's view of the diffusion model folders
}

#: Kinds whose loaders take nothing else (``require_kind``). A LoRA folder is looser: LoRAs
#: come in more layouts than detection names, so only a whole model there is refused.
STRICT_KINDS = frozenset({"wan_transformer", "wan_vae", "umt5", "clip_vision"})

#: Files holding a part of a model of another kind, accepted where that kind is wanted (a
#: VACE module sits in ``diffusion_models``); the loader that merges the part decides.
PART_OF = {"wan_vace_module": "wan_transformer", "fantasytalking": "wan_transformer",
           "multitalk": "wan_transformer"}

#: Whole models of another kind that their own loader lists from a folder this kind owns
#: (kijai's MelBandRoFormerModelLoader reads ``diffusion_models``): the folder check lets
#: them through, and that loader checks what it reads.
FOLDER_GUESTS = {"mel_band_roformer": "wan_transformer"}

STORAGE_NAMES = {"BF16": "bf16", "F16": "fp16", "F32": "fp32", "F8_E4M3": "fp8_e4m3fn",
                 "F8_E5M2": "fp8_e5m2", "F64": "fp64", "NVFP4": "nvfp4", "MXFP8": "mxfp8"}

#: Suffixes of the per-layer scale tensors of fp8 "scaled" files, and of tensors we drop.
SCALE_SUFFIXES = (".scale_weight", ".weight_scale")
DROPPED_SUFFIXES = (".scale_input", ".input_scale", ".comfy_quant", *_QUANT_EXTRAS,  # read by layer (comfy_quant)
                    ".attn.freqs_cis")  # SAM 3's precomputed rotary tables (complex64): recomputed, never read
MARKER_KEYS = ("scaled_fp8",)


@dataclass(frozen=True)
class ModelInfo:
    """What a checkpoint is. ``config`` holds its dimensions in the original Wan names."""

    path: Path
    kind: str
    variant: str
    layout: str
    dtype: str
    scaled: bool = False
    config: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)
    prefix: str = ""
    notes: tuple[str, ...] = ()

    #: A transformer's family (``models.families``), e.g. ``i2v`` for the variant ``i2v-14B-480P``.
    task: str = ""

    #: A Wan 2.2 A14B expert: ``high_noise`` or ``low_noise`` (from the file name; "" otherwise).
    expert: str = ""

    @property
    def label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)

    def describe(self) -> str:
        scaled = " scaled" if self.scaled else ""
        return f"{self.path.name}: {self.label}, {self.variant}, {self.layout} layout, {self.dtype}{scaled}"


class WrongModelError(CheckpointError):
    """A file of one kind handed to the loader of another."""


def require_kind(info: ModelInfo, kind: str | Iterable[str]) -> None:
    """Raise a one-line error when ``info`` is not of ``kind`` (or of any of several kinds),
    saying what it is instead."""
    kinds = [kind] if isinstance(kind, str) else sorted(kind)
    if info.kind in kinds or PART_OF.get(info.kind) in kinds or FOLDER_GUESTS.get(info.kind) in kinds:
        return
    wanted = " or ".join(KIND_LABELS.get(k, k) for k in kinds)
    if info.kind == "unknown":
        raise WrongModelError(f"{info.path}: {KIND_LABELS['unknown']} ({info.variant}); expected {wanted}")
    folder = KIND_FOLDERS.get(info.kind)
    where = f"; it belongs in models/{folder}" if folder else ""
    raise WrongModelError(f"{info.path}: this is {info.label}, not {wanted}{where}")


def detect(path: str | Path, *, allow_pickle: bool | None = None) -> ModelInfo:
    """Read the header of ``path`` and tell what it is."""
    from wfrun.models.reader import open_checkpoint

    with open_checkpoint(path, allow_pickle=allow_pickle) as reader:
        return identify(reader.path, reader.tensors, reader.metadata)


def identify(path: Path, tensors: Mapping[str, TensorInfo], metadata: Mapping[str, str] | None = None) -> ModelInfo:
    """Tell what a checkpoint is from its tensor names, dtypes and shapes."""
    metadata = metadata or {}
    tensors = logical_header(tensors, metadata)  # ComfyUI's nvfp4/mxfp8 weights in their logical shapes
    keys = list(tensors)
    for kind, finder in _FINDERS:
        found = finder(path, tensors, keys, metadata)
        if found is not None:
            return found
    if any(re.search(r"lora_(down|up|A|B)\b|\.lora\.|\.alpha$", k) for k in keys):
        return ModelInfo(path, "lora", "lora", "", _storage(tensors), False)
    sample = ", ".join(keys[:3]) or "no tensors"
    return ModelInfo(path, "unknown", f"first keys: {sample}", "", _storage(tensors), False)


def identify_part(path: Path, tensors: Mapping[str, TensorInfo], metadata: Mapping[str, str] | None,
                  kind: str) -> ModelInfo | None:
    """The ``kind`` part of an all-in-one checkpoint (``CheckpointLoaderSimple``'s files: the
    transformer under ``model.diffusion_model.``, the VAE under ``vae.`` or
    ``first_stage_model.``, the text encoder under ``text_encoders.``), or None."""
    main = identify(path, tensors, metadata)
    if main.kind == kind:
        return main
    if main.kind != "wan_transformer" or not main.prefix:
        return None  # a file of one model only
    for finder_kind, finder in _FINDERS:
        if finder_kind == kind:
            part = finder(path, tensors, list(tensors), metadata or {})
            return part if part is not None and part.prefix else None
    return None


# --- helpers -------------------------------------------------------------------------


def _find_prefix(keys: list[str], signature: str) -> str | None:
    """The prefix under which ``signature`` appears as a whole dotted name, if it does."""
    for key in keys:
        if key == signature:
            return ""
        if key.endswith("." + signature):
            return key[: -len(signature)]
    return None


def _storage(tensors: Mapping[str, TensorInfo], prefix: str = "") -> str:
    """The dtype holding most of the weights (matrices and kernels; norms and scales excluded)."""
    counts: Counter[str] = Counter()
    for name, info in tensors.items():
        if len(info.shape) >= 2 and not name.endswith(SCALE_SUFFIXES):
            counts[info.dtype] += info.numel
    if not counts:
        counts.update(info.dtype for info in tensors.values())
    if not counts:
        return "empty"
    dtype = counts.most_common(1)[0][0]
    return STORAGE_NAMES.get(dtype, dtype.lower())


def _scaled(tensors: Mapping[str, TensorInfo], prefix: str) -> bool:
    return f"{prefix}scaled_fp8" in tensors or "scaled_fp8" in tensors or any(
        k.endswith(SCALE_SUFFIXES) for k in tensors)


def _count(keys: list[str], pattern: str) -> int:
    """How many distinct integers fill ``{}`` in ``pattern`` among ``keys``."""
    regex = re.compile(re.escape(pattern).replace(r"\{\}", r"(\d+)"))
    return len({m.group(1) for k in keys if (m := regex.match(k))})


def _metadata_int(metadata: Mapping[str, str], name: str) -> int | None:
    """An integer from the file's metadata: ``wfrun.<name>``, or a ``config`` JSON entry."""
    value: Any = metadata.get(f"wfrun.{name}")
    if value is None and "config" in metadata:
        try:
            config = json.loads(metadata["config"])
            if isinstance(config, dict):
                value = config.get("transformer", config).get(name)
        except (ValueError, AttributeError):
            value = None
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _causal_ar(metadata: Mapping[str, str]) -> bool:
    """Whether the file's ``config`` metadata marks a causal (autoregressive) Wan model, as
    ComfyUI reads it (``families.wan_transformer.CAUSAL_AR_CONFIG``)."""
    try:
        config = json.loads(metadata.get("config") or "{}")
    except ValueError:
        return False
    transformer = config.get("transformer") if isinstance(config, dict) else None
    return isinstance(transformer, dict) and transformer.get("causal_ar") is True


def _shape(tensors: Mapping[str, TensorInfo], key: str) -> tuple[int, ...]:
    return tensors[key].shape


# --- Wan transformer -----------------------------------------------------------------


def _wan_transformer(path, tensors, keys, metadata) -> ModelInfo | None:
    prefix = _find_prefix(keys, "head.modulation")
    if prefix is None or f"{prefix}patch_embedding.weight" not in tensors:
        if _find_prefix(keys, "condition_embedder.time_proj.weight") is not None:
            return ModelInfo(path, "wan_transformer", "unknown", "diffusers", _storage(tensors),
                             notes=("diffusers folder layout",))
        return None
    p = prefix
    patch = _shape(tensors, f"{p}patch_embedding.weight")
    dim, in_dim = patch[0], patch[1]
    patch_size = tuple(patch[2:])
    num_layers = _count(keys, f"{p}blocks.{{}}.")
    head = _shape(tensors, f"{p}head.head.weight")
    image = f"{p}img_emb.proj.0.weight" in tensors
    emb_pos = tensors.get(f"{p}img_emb.emb_pos")
    heads = dim // 128 if dim % 128 == 0 else _metadata_int(metadata, "num_heads")
    vace = tensors.get(f"{p}vace_patch_embedding.weight")
    camera = tensors.get(f"{p}control_adapter.conv.weight")
    ref_conv = tensors.get(f"{p}ref_conv.weight")
    vace_layers = _count(keys, f"{p}vace_blocks.{{}}.")
    config = {
        "dim": dim, "in_dim": in_dim, "patch_size": patch_size,
        "out_dim": head[0] // max(1, patch_size[0] * patch_size[1] * patch_size[2]),
        "ffn_dim": _shape(tensors, f"{p}blocks.0.ffn.0.weight")[0],
        # MiniMax-Remover has no text embedding (nor cross-attention): the wrapper's test for it
        "text_dim": _shape(tensors, f"{p}text_embedding.0.weight")[1] if f"{p}text_embedding.0.weight" in tensors
        else None,
        "no_text": f"{p}text_embedding.0.weight" not in tensors,
        "freq_dim": _shape(tensors, f"{p}time_embedding.0.weight")[1],
        "num_layers": num_layers, "num_heads": heads,
        "qk_norm": f"{p}blocks.0.self_attn.norm_q.weight" in tensors,
        "cross_attn_norm": f"{p}blocks.0.norm3.weight" in tensors,
        "image_dim": _shape(tensors, f"{p}img_emb.proj.0.weight")[0] if image else None,
        "pos_embed_seq_len": emb_pos.shape[1] if emb_pos is not None else None,
        "vace_in_dim": vace.shape[1] if vace is not None else None,
        "vace_layers": vace_layers or None,
        "camera_in_dim": camera.shape[1] if camera is not None else None,
        "camera_residual_blocks": _count(keys, f"{p}control_adapter.residual_blocks.{{}}.") if camera is not None else None,
        "ref_in_dim": ref_conv.shape[1] if ref_conv is not None else None,
        "fps_embedding": f"{p}fps_embedding.weight" in tensors,
        "recam_in_dim": _shape(tensors, f"{p}blocks.0.cam_encoder.weight")[1]
        if f"{p}blocks.0.cam_encoder.weight" in tensors else None,
    }
    # Wan 2.2 Animate's pose embedding comes with its motion encoder; SCAIL's comes alone
    # (with SCAIL-2's identity-mask embedding beside it), and wfrun has no SCAIL model yet
    pose_embedding = f"{p}pose_patch_embedding.weight" in tensors
    animate = pose_embedding and f"{p}{_MOTION}net_app.convs.0.0.weight" in tensors
    scail = (pose_embedding and not animate) or f"{p}mask_patch_embedding.weight" in tensors
    if animate:
        config.update(_animate_config(tensors, keys, p))
    s2v = f"{p}casual_audio_encoder.encoder.final_linear.weight" in tensors  # ComfyUI's test for S2V
    if s2v:
        config.update(_s2v_config(tensors, keys, p, dim))
    humo = f"{p}audio_proj.audio_proj_glob_1.layer.bias" in tensors  # ComfyUI's test for HuMo
    if humo:
        config.update(_humo_config(tensors, p))
    parts = {name for name, found in (("emb_pos", emb_pos is not None), ("vace", vace is not None or vace_layers),
                                      ("control_adapter", camera is not None), ("ref_conv", ref_conv is not None),
                                      ("fps", f"{p}fps_embedding.weight" in tensors),
                                      ("recam", f"{p}blocks.0.cam_encoder.weight" in tensors), ("animate", animate),
                                      ("s2v", s2v), ("humo", humo), ("causal_ar", _causal_ar(metadata)),
                                      ("no_text", config["no_text"]))
             if found}
    notes: list[str] = []
    extras = sorted({k[len(p):].split(".")[0] for k in keys if k.startswith(p)} - _WAN_TOP_LEVEL)
    name = path.name.lower()
    task = classify_transformer(in_dim, config["out_dim"], image, False, False, dim, path.name, parts)
    family = transformer_family(task)
    # parts the family's module has no place for (VACE blocks outside a VACE family, …)
    homeless = sorted(part for part in extras if family is None or family.diffusers_class is None
                      or part in _NO_DIFFUSERS_MODULE or (part in _VACE_TOP_LEVEL and family.conditioning != "vace")
                      or (part in ANIMATE_MODULES and family.conditioning != "animate")
                      or (part in S2V_MODULES and family.conditioning != "s2v")
                      or (part in HUMO_MODULES and family.conditioning != "humo"))
    if animate and family is not None and family.conditioning == "animate" and not homeless:
        homeless = _animate_misfits(config)
    if homeless:
        notes.append("unsupported parts: " + ", ".join(homeless))
    if scail:
        notes.append("a SCAIL character-animation model (pose and identity-mask embeddings): wfrun cannot sample "
                     "SCAIL models yet")
    variant = [task]
    size = SIZES.get(dim)
    if size and size.lower() not in task:
        variant.append(size)
    if image and task in ("i2v", "flf2v", "fun-inp"):
        resolution = "720P" if "720" in name else "480P" if "480" in name else None
        if resolution:
            variant.append(resolution)
            notes.append("480P and 720P models have the same shapes: resolution taken from the file name")
    expert = ""
    if family is not None and family.generation == "2.2" and "a14b" in task:
        expert = "high_noise" if re.search(r"high[-_ ]?noise", name) else \
            "low_noise" if re.search(r"low[-_ ]?noise", name) else ""
        if expert:
            variant.append(expert.replace("_", "-"))
            notes.append("Wan 2.2 A14B expert taken from the file name")
    layout = "comfyui" if prefix == "model.diffusion_model." else "original"
    return ModelInfo(path, "wan_transformer", "-".join(variant), layout, _storage(tensors), _scaled(tensors, p),
                     config, prefix, tuple(notes), task=task, expert=expert)


_VACE_TOP_LEVEL = {"vace_blocks", "vace_patch_embedding"}

_MOTION = "motion_encoder.enc."


def _animate_config(tensors, keys, p: str) -> dict[str, Any]:
    """Wan 2.2 Animate's dimensions (ComfyUI ``AnimateWanModel``; the official
    ``wan/modules/animate``): the pose embedding's channels; the motion encoder's widths
    (its first 1x1 conv, then one down-sampling residual block per halving of the 512-pixel
    face crop, down to 4x4, where a 4x4 conv gives the style vector), its linear stack and
    the motion directions (``dec.direction.weight`` is ``[out, motion_dim]``); the face
    encoder's per-head width and head count; and the face adapters, one per fifth block."""
    convs = _count(keys, f"{p}{_MOTION}net_app.convs.{{}}.")
    widths = [_shape(tensors, f"{p}{_MOTION}net_app.convs.0.0.weight")[0]]
    widths += [_shape(tensors, f"{p}{_MOTION}net_app.convs.{i}.conv2.1.weight")[0] for i in range(1, convs - 1)]
    direction = _shape(tensors, f"{p}motion_encoder.dec.direction.weight")
    conv1 = _shape(tensors, f"{p}face_encoder.conv1_local.conv.weight")
    hidden = _shape(tensors, f"{p}face_encoder.conv2.conv.weight")[0]
    return {
        "pose_in_dim": _shape(tensors, f"{p}pose_patch_embedding.weight")[1],
        "motion_widths": tuple(widths),
        "motion_size": 2 ** (len(widths) + 1),  # each residual block halves the crop, down to 4x4
        "motion_style_dim": _shape(tensors, f"{p}{_MOTION}net_app.convs.{convs - 1}.weight")[0],
        "motion_blocks": _count(keys, f"{p}{_MOTION}fc.{{}}."),
        "motion_dim": direction[1], "motion_out_dim": direction[0],
        "face_in_dim": conv1[1], "face_hidden_dim": hidden, "face_heads": conv1[0] // max(1, hidden),
        "face_conv_width": conv1[0],
        "face_adapters": _count(keys, f"{p}face_adapter.fuser_blocks.{{}}."),
    }


def _s2v_config(tensors, keys, p: str, dim: int) -> dict[str, Any]:
    """Wan 2.2 S2V's dimensions (ComfyUI ``WanModel_S2V``): the audio encoder's wav2vec2
    width and layer count (its per-layer ``weights`` are ``[1, layers, 1, 1]``), its audio
    tokens per frame (the local conv gives ``dim / 4`` channels per token), the number of
    injectors, and the pose/control encoder's channels (0 without one)."""
    enc = f"{p}casual_audio_encoder."
    local = _shape(tensors, f"{enc}encoder.conv1_local.conv.weight")
    cond = tensors.get(f"{p}cond_encoder.weight")
    return {
        "s2v_audio_dim": local[1],
        "s2v_audio_layers": _shape(tensors, f"{enc}weights")[1],
        "s2v_audio_tokens": local[0] // max(1, dim // 4),
        "s2v_injectors": _count(keys, f"{p}audio_injector.injector.{{}}."),
        "s2v_cond_dim": cond.shape[1] if cond is not None else 0,
    }


def _humo_config(tensors, p: str) -> dict[str, Any]:
    """HuMo's dimensions (ComfyUI ``HumoWanModel``): the audio projection's input (window x
    groups x Whisper width), hidden width, tokens per latent frame and token width (the
    width of the blocks' audio keys and values)."""
    proj = f"{p}audio_proj.audio_proj_glob_"
    first = _shape(tensors, f"{proj}1.layer.weight")
    width = _shape(tensors, f"{proj}norm.layer.weight")[0]
    return {"humo_audio_in": first[1], "humo_hidden": first[0], "humo_width": width,
            "humo_tokens": _shape(tensors, f"{proj}3.layer.weight")[0] // max(1, width)}


def _animate_misfits(config: Mapping[str, Any]) -> list[str]:
    """Animate parts whose shapes diffusers' ``WanAnimateTransformer3DModel`` cannot take: it
    builds one face adapter per ``inject_face_latents_blocks`` (5) blocks and runs one after
    blocks 0, 5, 10, … (as ComfyUI), so the layers must be a multiple of five; and it feeds
    the motion vectors straight into the face encoder."""
    out = []
    if config["face_adapters"] * ANIMATE_FACE_EVERY != config["num_layers"]:  # one after blocks 0, 5, …
        out.append(f"face_adapter ({config['face_adapters']} blocks for {config['num_layers']} layers)")
    if config["face_in_dim"] != config["motion_out_dim"]:
        out.append(f"face_encoder ({config['face_in_dim']} inputs for {config['motion_out_dim']}-wide motion)")
    if config["motion_blocks"] != 5:  # diffusers' motion encoder has its default five linears
        out.append(f"motion_encoder ({config['motion_blocks']} linear layers, not 5)")
    if config["face_conv_width"] % config["face_hidden_dim"]:
        out.append("face_encoder (its first conv is not a whole number of heads)")
    return out


def _wan_vace_module(path, tensors, keys, metadata) -> ModelInfo | None:
    """A VACE module (``models.vace_module``): VACE blocks and their patch embedding only."""
    from wfrun.models.vace_module import module_keys

    p = _find_prefix(keys, "vace_patch_embedding.weight")
    if p is None or not module_keys(keys, p):
        return None
    embed = _shape(tensors, f"{p}vace_patch_embedding.weight")
    blocks = _count(keys, f"{p}vace_blocks.{{}}.")
    ffn = tensors.get(f"{p}vace_blocks.0.ffn.0.weight")
    config = {"dim": embed[0], "vace_in_dim": embed[1], "vace_layers": blocks,
              "ffn_dim": ffn.shape[0] if ffn is not None else None}
    size = SIZES.get(embed[0])
    variant = "vace-module" + (f"-{size}" if size else "")
    layout = "comfyui" if p == "model.diffusion_model." else "original"
    return ModelInfo(path, "wan_vace_module", variant, layout, _storage(tensors), _scaled(tensors, p), config, p,
                     task="vace-module")


def _fantasytalking(path, tensors, keys, metadata) -> ModelInfo | None:
    """FantasyTalking's audio model (``models.fantasytalking``): an audio projection and
    per-block audio key/value maps, which the wrapper merges into its transformer."""
    from wfrun.models.fantasytalking import spec_of

    try:
        spec = spec_of({k: tuple(_shape(tensors, k)) for k in keys})
    except CheckpointError:
        return None
    config = {"audio_dim": spec.audio_dim, "proj_dim": spec.proj_dim, "dim": spec.dim, "num_layers": spec.blocks}
    return ModelInfo(path, "fantasytalking", "fantasytalking", "original", _storage(tensors), False, config)


def _mel_band_roformer(path, tensors, keys, metadata) -> ModelInfo | None:
    """kijai's Mel-Band RoFormer (``models.mel_band_roformer``): band-split inputs and mask
    estimators around axial transformers."""
    if "band_split.to_features.0.0.gamma" not in tensors or "mask_estimators.0.to_freqs.0.0.0.weight" not in tensors:
        return None
    from wfrun.models.mel_band_roformer.load import config_of

    try:
        config = config_of({k: tuple(_shape(tensors, k)) for k in keys}, path.name)
    except CheckpointError:
        return None
    return ModelInfo(path, "mel_band_roformer", f"{config.num_bands} bands", "original", _storage(tensors), False,
                     {"dim": config.dim, "depth": config.depth, "num_bands": config.num_bands})


_NO_DIFFUSERS_MODULE: set[str] = set()  # ref_conv and control_adapter: models.wan_extra_parts
_WAN_TOP_LEVEL = {"patch_embedding", "text_embedding", "time_embedding", "time_projection", "blocks",
                  "head", "img_emb", "scaled_fp8"}


# --- Wan VAE -------------------------------------------------------------------------


def _wan_vae(path, tensors, keys, metadata) -> ModelInfo | None:
    prefix = _find_prefix(keys, "decoder.middle.0.residual.0.gamma")
    if prefix is None:
        if _find_prefix(keys, "decoder.mid_block.resnets.0.norm1.gamma") is not None:
            return ModelInfo(path, "wan_vae", "wan2.1", "diffusers", _storage(tensors),
                             notes=("diffusers folder layout",))
        return None
    try:
        return _wan_vae_parts(path, tensors, keys, prefix)
    except KeyError as err:  # a VAE's signature without the rest of it
        return ModelInfo(path, "wan_vae", "incomplete", "original", _storage(tensors), prefix=prefix,
                         notes=(f"an incomplete Wan VAE: it lacks {err.args[0]}",))


def _wan_vae_parts(path, tensors, keys, prefix: str) -> ModelInfo:
    p = prefix
    residual = f"{p}encoder.downsamples.0.downsamples.0.residual.0.gamma" in tensors
    encoder_in = _shape(tensors, f"{p}encoder.conv1.weight")
    base, coded = encoder_in[0], encoder_in[1]
    z_dim = _shape(tensors, f"{p}conv2.weight")[0]
    if residual:  # Wan 2.2: encoder.downsamples.<stage>.downsamples.<block>
        stages = _count(keys, f"{p}encoder.downsamples.{{}}.")
        num_res = _count(keys, f"{p}encoder.downsamples.0.downsamples.{{}}.residual.")
        dim_mult = [_shape(tensors, f"{p}encoder.downsamples.{s}.downsamples.0.residual.2.weight")[0] // base
                    for s in range(stages)]
        temporal = [f"{p}encoder.downsamples.{s}.downsamples.{num_res}.time_conv.weight" in tensors
                    for s in range(stages - 1)]
    else:  # Wan 2.1: one flat list of residual blocks and resamplers
        blocks = _count(keys, f"{p}encoder.downsamples.{{}}.")
        resamples = sorted(int(m.group(1)) for k in keys
                           if (m := re.match(re.escape(p) + r"encoder\.downsamples\.(\d+)\.resample\.1\.weight$", k)))
        num_res = (resamples[0] if resamples else blocks)
        dim_mult = []
        for stage in range(len(resamples) + 1):
            first = stage * (num_res + 1)
            dim_mult.append(_shape(tensors, f"{p}encoder.downsamples.{first}.residual.2.weight")[0] // base)
        temporal = [f"{p}encoder.downsamples.{i}.time_conv.weight" in tensors for i in resamples]
    decoder_base = _shape(tensors, f"{p}decoder.conv1.weight")[0] // dim_mult[-1]
    family = classify_vae(residual, z_dim)
    variant = family.name if family is not None else f"z{z_dim}" + ("-residual" if residual else "")
    config = {"dim": base, "z_dim": z_dim, "dim_mult": dim_mult, "num_res_blocks": num_res,
              "temperal_downsample": temporal, "attn_scales": []}
    if residual:
        config.update(decoder_dim=decoder_base, in_channels=coded,
                      out_channels=_shape(tensors, f"{p}decoder.head.2.weight")[0])
    notes = () if family is not None else (f"no Wan VAE family has {z_dim} latent channels"
                                           + (" and residual blocks" if residual else ""),)
    return ModelInfo(path, "wan_vae", variant, "original", _storage(tensors), _scaled(tensors, p), config, p, notes)


# --- UMT5 ----------------------------------------------------------------------------


def _umt5(path, tensors, keys, metadata) -> ModelInfo | None:
    prefix = _find_prefix(keys, "blocks.0.attn.q.weight")
    if prefix is not None and f"{prefix}token_embedding.weight" in tensors:
        p, layout = prefix, "original"
        per_block = f"{p}blocks.0.pos_embedding.embedding.weight" in tensors
        emb = _shape(tensors, f"{p}token_embedding.weight")
        q = _shape(tensors, f"{p}blocks.0.attn.q.weight")
        rel_key = f"{p}blocks.0.pos_embedding.embedding.weight" if per_block else f"{p}pos_embedding.embedding.weight"
        ffn = _shape(tensors, f"{p}blocks.0.ffn.fc1.weight")
        layers = _count(keys, f"{p}blocks.{{}}.")
    else:
        prefix = _find_prefix(keys, "encoder.block.0.layer.0.SelfAttention.q.weight")
        if prefix is None:
            return None
        p, layout = prefix, "transformers"
        layers = _count(keys, f"{p}encoder.block.{{}}.")
        rel = "layer.0.SelfAttention.relative_attention_bias.weight"
        per_block = layers < 2 or f"{p}encoder.block.1.{rel}" in tensors
        emb_key = f"{p}shared.weight" if f"{p}shared.weight" in tensors else f"{p}encoder.embed_tokens.weight"
        if emb_key not in tensors:
            return None
        emb = _shape(tensors, emb_key)
        q = _shape(tensors, f"{p}encoder.block.0.layer.0.SelfAttention.q.weight")
        rel_key = f"{p}encoder.block.0.{rel}"
        wi = f"{p}encoder.block.0.layer.1.DenseReluDense.wi_1.weight"
        if wi not in tensors:
            return ModelInfo(path, "t5", "t5 (not gated)", layout, _storage(tensors), prefix=p)
        ffn = _shape(tensors, wi)
    heads = _shape(tensors, rel_key)[1] if rel_key in tensors else None
    config = {"vocab": emb[0], "dim": emb[1], "dim_attn": q[0], "dim_ffn": ffn[0], "num_heads": heads,
              "num_layers": layers,
              "num_buckets": _shape(tensors, rel_key)[0] if rel_key in tensors else None}
    notes = ("carries its sentencepiece tokenizer",) if "spiece_model" in tensors else ()
    if not per_block:
        return ModelInfo(path, "t5", "t5-v1.1", layout, _storage(tensors), _scaled(tensors, p), config, p, notes)
    variant = text_encoder_variant(emb[1], layers)
    return ModelInfo(path, "umt5", variant, layout, _storage(tensors), _scaled(tensors, p), config, p, notes)


# --- CLIP vision ---------------------------------------------------------------------

def _clip_vision(path, tensors, keys, metadata) -> ModelInfo | None:
    layouts = (
        ("original", "visual.transformer.0.attn.to_qkv.weight", "visual.patch_embedding.weight",
         "visual.pos_embedding", "visual.transformer.{}.", "visual.transformer.0.mlp.0.weight", "visual.head"),
        ("open_clip", "visual.transformer.resblocks.0.attn.in_proj_weight", "visual.conv1.weight",
         "visual.positional_embedding", "visual.transformer.resblocks.{}.", "visual.transformer.resblocks.0.mlp.c_fc.weight",
         "visual.proj"),
        ("transformers", "vision_model.encoder.layers.0.self_attn.q_proj.weight",
         "vision_model.embeddings.patch_embedding.weight", "vision_model.embeddings.position_embedding.weight",
         "vision_model.encoder.layers.{}.", "vision_model.encoder.layers.0.mlp.fc1.weight", "visual_projection.weight"),
    )
    for layout, signature, patch_key, pos_key, layer_pattern, fc1_key, proj_key in layouts:
        prefix = _find_prefix(keys, signature)
        if prefix is None:
            continue
        # The signature may sit under "visual." already; strip back to the model's own prefix.
        p = prefix
        patch = _shape(tensors, p + patch_key)
        positions = _shape(tensors, p + pos_key)[-2]
        dim, patch_size = patch[0], patch[2]
        grid = round((positions - 1) ** 0.5)
        proj = tensors.get(p + proj_key)
        projection = (proj.shape[0] if layout == "transformers" else proj.shape[1]) if proj is not None else None
        heads = CLIP_HEADS_BY_WIDTH.get(dim) or _metadata_int(metadata, "num_heads")
        layers = _count(keys, p + layer_pattern)
        config = {"dim": dim, "patch_size": patch_size, "image_size": grid * patch_size, "num_layers": layers,
                  "mlp_dim": _shape(tensors, p + fc1_key)[0], "num_heads": heads, "projection_dim": projection}
        variant = image_encoder_variant(dim, layers, patch_size)
        return ModelInfo(path, "clip_vision", variant, layout, _storage(tensors), _scaled(tensors, p), config, p)
    return None


# --- SAM 3 -----------------------------------------------------------------------------

_SAM3_TRUNK = "detector.backbone.vision_backbone.trunk."
_SAM3_TEXT = "detector.backbone.language_backbone.encoder."


def _sam3(path, tensors, keys, metadata) -> ModelInfo | None:
    if "detector.transformer.decoder.query_embed.weight" not in tensors or \
            f"{_SAM3_TRUNK}patch_embed.proj.weight" not in tensors:
        return None
    patch = _shape(tensors, f"{_SAM3_TRUNK}patch_embed.proj.weight")
    queries, d_model = _shape(tensors, "detector.transformer.decoder.query_embed.weight")
    multiplex = any(k.startswith("detector.backbone.vision_backbone.propagation_convs.") for k in keys)
    necks = {name: _count(keys, f"detector.backbone.vision_backbone.{name}.{{}}.")
             for name in ("convs", "sam2_convs", "interactive_convs", "propagation_convs")}
    text = f"{_SAM3_TEXT}token_embedding.weight"
    config = {
        "vit_dim": patch[0], "patch_size": patch[2], "vit_layers": _count(keys, f"{_SAM3_TRUNK}blocks.{{}}."),
        "vit_mlp": _shape(tensors, f"{_SAM3_TRUNK}blocks.0.mlp.fc1.weight")[0],
        "vit_positions": _shape(tensors, f"{_SAM3_TRUNK}pos_embed")[1],
        "d_model": d_model, "num_queries": queries, "necks": necks,
        "encoder_layers": _count(keys, "detector.transformer.encoder.layers.{}."),
        "decoder_layers": _count(keys, "detector.transformer.decoder.layers.{}."),
        "detr_ffn": _shape(tensors, "detector.transformer.encoder.layers.0.linear1.weight")[0],
        "geometry_layers": _count(keys, "detector.geometry_encoder.encode.{}."),
        "text_vocab": _shape(tensors, text)[0] if text in tensors else None,
        "text_dim": _shape(tensors, text)[1] if text in tensors else None,
        "text_positions": _shape(tensors, f"{_SAM3_TEXT}positional_embedding")[0] if text in tensors else None,
        "text_layers": _count(keys, f"{_SAM3_TEXT}transformer.resblocks.{{}}."),
    }
    notes = [] if text in tensors else ["no text encoder (detector.backbone.language_backbone.encoder)"]
    if not multiplex:
        notes.append("SAM 3 (not 3.1): its tracker keeps another layout")
    return ModelInfo(path, "sam3", "sam3.1" if multiplex else "sam3", "original", _storage(tensors), False,
                     config, "", tuple(notes))


def _multitalk(path, tensors, keys, metadata) -> ModelInfo | None:
    """The MultiTalk/InfiniteTalk audio patch (``models.multitalk``): an audio projection and
    per-block audio cross-attention, which the wrapper merges into its transformer."""
    from wfrun.models.multitalk import is_multitalk, spec_of

    if not is_multitalk(keys):
        return None
    try:
        spec = spec_of({k: tuple(_shape(tensors, k)) for k in keys}, metadata)
    except CheckpointError:
        return None
    config = {"dim": spec.dim, "num_layers": spec.blocks, "audio_dim": spec.audio_dim}
    return ModelInfo(path, "multitalk", "multitalk", "original", _storage(tensors), False, config)


_FINDERS = (
    ("sam3", _sam3),
    ("wan_transformer", _wan_transformer),
    ("wan_vace_module", _wan_vace_module),
    ("fantasytalking", _fantasytalking),
    ("multitalk", _multitalk),
    ("mel_band_roformer", _mel_band_roformer),
    ("wan_vae", _wan_vae),
    ("umt5", _umt5),
    ("clip_vision", _clip_vision),
)
