"""Tiny stand-ins for the models a workflow names, so ``--tiny-models`` runs any workflow.

A real workflow's loaders name real files (``WanVideo\\Wan2_1-I2V-14B-480P_fp8_e4m3fn.safetensors``,
``umt5-xxl-enc-bf16.safetensors``, LoRAs, Depth Anything, …). With tiny models on, each of
those names is served by a tiny random checkpoint of the same *family*:

- the kind follows the loader (which input of which node type; else the models folder the
  input lists files from): transformer, VAE, UMT5, CLIP vision, LoRA, Depth Anything;
- the family, key layout and storage follow the name, as Wan's, Kijai's and ComfyUI's
  releases spell them (the name rules live with the families: ``models.families``'
  ``task_from_name`` and ``vae_family_from_name``): Wan 2.1 T2V/I2V/FLF2V/Fun-Control/
  Fun-InP/Fun-Camera/VACE, Wan 2.2 A14B T2V/I2V/Fun and TI2V-5B/Fun 5B, the Wan 2.1 or 2.2
  VAE, a separate VACE module for WanVideoVACEModelSelect (and WanVideoExtraModelSelect, for a name that says VACE); Kijai's ``Wan2_1-…`` original keys or ComfyUI's repackaged ``wan2.1_…``/``wan2.2_…``
  / ``umt5_xxl_…`` / ``clip_vision_h``, bf16/fp16/fp32/fp8 (``_scaled``). Sizes change
  only what the family fixes (5B: 48-channel latents): every tiny transformer is 32 wide.

The stand-in is written under the very name the workflow uses, so the loaders, the checks
and every choice made from a file name (480P/720P, Fun-InP, fp16 Depth Anything) see what
they would see with the real file: the user's own workflow runs unchanged. A name that gives
no clue gets the family the workflow's use of the model implies (a :class:`TaskHint`, found by
``wfrun.jobs.standin_context``), else the loader's default family, with a notice either way; a file wfrun cannot read (pickles,
a GGUF file for a loader that reads none) or a model of a family it has no tiny writer for
gets none, with the reason (:class:`NoStandin`). A GGUF file for ComfyUI-GGUF's loaders
(and the wrapper's model loader and VACE module select) gets a tiny GGUF of its family (``tiny_gguf``), in the type its name states where tiny rows
allow it (K-quants need 256-value rows: a ``Q4_K_M`` stand-in is stored in ``Q4_0``). A family wfrun cannot sample yet (``runs=False``) still gets its
stand-in: loading and checking run as they would with the real file.

Stand-ins are written once per distinct set, into a folder named by a hash of the set
(``$WFRUN_CACHE/tiny-standins/<hash>/``, beside the tiny models), atomically, and reused.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable

from wfrun.models.families import task_from_name, transformer_family, vae_family, vae_family_from_name
from wfrun.models.reader import PICKLE_SUFFIXES, PTH_SUFFIXES
from wfrun.models.paths import VIEW_FOLDERS, safe_relative

#: Bump when what a family's stand-in holds changes, so cached stand-ins are rebuilt.
STANDIN_VERSION = "5"

#: More model inputs than any real workflow has; a file asking for more is refused.
MAX_STANDINS = 64
#: Longest name part and whole name written (file systems allow 255 bytes per part).
MAX_PART_BYTES, MAX_NAME_BYTES = 200, 1000

#: Loader inputs whose kind (and default key layout) the node type decides; other inputs
#: are known by the models folder they list (``FOLDER_KINDS``).
LOADER_KINDS: dict[tuple[str, str], tuple[str, str]] = {
    ("WanVideoModelLoader", "model"): ("wan_transformer", "original"),
    ("WanVideoVACEModelSelect", "vace_model"): ("wan_vace_module", "original"),
    ("WanVideoExtraModelSelect", "extra_model"): ("wan_extra_module", "original"),
    ("UNETLoader", "unet_name"): ("wan_transformer", "comfyui"),
    ("DiffusionModelSelector", "model_name"): ("wan_selected_file", "original"),
    ("WanVideoVAELoader", "model_name"): ("wan_vae", "original"),
    ("WanVideoTinyVAELoader", "model_name"): ("taehv", ""),
    ("VAELoader", "vae_name"): ("wan_vae", "original"),
    ("LoadWanVideoT5TextEncoder", "model_name"): ("umt5", "original"),
    ("CLIPLoader", "clip_name"): ("umt5", "transformers"),
    ("LoadWanVideoClipTextEncoder", "model_name"): ("clip_vision", "original"),
    ("WanVideoModelLoader_2frames", "model"): ("wan_transformer", "original"),
    ("WanVideoVAELoader_2frames", "model_name"): ("wan_vae", "original"),
    ("LoadWanVideoClipTextEncoder_2frames", "model_name"): ("clip_vision", "original"),
    ("CLIPVisionLoader", "clip_name"): ("clip_vision", "transformers"),
    ("WanVideoLoraSelect", "lora"): ("lora", ""),
    ("LoraLoaderModelOnly", "lora_name"): ("lora", ""),
    ("LoraLoader", "lora_name"): ("lora", ""),
    ("DownloadAndLoadDepthAnythingV2Model", "model"): ("depth_anything_v2", ""),
    ("DepthAnythingV2Preprocessor", "ckpt_name"): ("depth_anything_v2", ""),
    ("DownloadAndLoadSAM2Model", "model"): ("sam2", ""),
    ("UnetLoaderGGUF", "unet_name"): ("wan_transformer", "original"),
    ("UnetLoaderGGUFAdvanced", "unet_name"): ("wan_transformer", "original"),
    ("UnetLoaderGGUFDisTorchMultiGPU", "unet_name"): ("wan_transformer", "original"),
    ("CLIPLoaderGGUF", "clip_name"): ("umt5", "transformers"),
    ("CheckpointLoaderSimple", "ckpt_name"): ("checkpoint", ""),
    ("ROCmDiffusionLoader", "unet_name"): ("wan_transformer", "comfyui"),
    ("VaeGGUF", "vae_name"): ("wan_vae", "original"),
    ("UpscaleModelLoader", "model_name"): ("upscale", ""),
    ("RIFE VFI", "ckpt_name"): ("rife", ""),
    ("RIFEInterpolation", "model_name"): ("rife", ""),
    ("FILM VFI", "ckpt_name"): ("film", ""),
    ("OnnxDetectionModelLoader", "vitpose_model"): ("vitpose", "onnx"),
    ("OnnxDetectionModelLoader", "yolo_model"): ("yolo_e2e", "onnx"),
    ("AudioEncoderLoader", "audio_encoder_name"): ("wav2vec2", ""),
    ("Wav2VecModelLoader", "model"): ("wav2vec2", ""),
    ("WhisperModelLoader", "model"): ("whisper", ""),
    ("ModelPatchLoader", "name"): ("multitalk", ""),
    ("FantasyTalkingModelLoader", "model"): ("fantasytalking", ""),
    ("MultiTalkModelLoader", "model"): ("multitalk", ""),
    ("WanVideoUni3C_ControlnetLoader", "model"): ("uni3c", ""),
    ("MelBandRoFormerModelLoader", "model_name"): ("mel_band_roformer", ""),
    **{("WanVideoLoraSelectMulti", f"lora_{i}"): ("lora", "") for i in range(5)},
}

#: Loader inputs that name a model *folder* (a Hugging Face repository), not a file:
#: ``(kind, models folder, how the value names it)``: ``True`` a repository id kept under its
#: last part, ``False`` a folder name, ``"path"`` a repository id kept as a path (the
#: wrapper's ``transformers/facebook/wav2vec2-base-960h``). Their stand-in is a folder.
FOLDER_LOADERS: dict[tuple[str, str], tuple[str, str, bool | str]] = {
    ("DownloadAndLoadFlorence2Model", "model"): ("florence2", "LLM", True),
    ("Florence2ModelLoader", "model"): ("florence2", "LLM", False),
    ("DownloadAndLoadCLIPSeg", "model"): ("clipseg", "clip_seg", True),
    ("DownloadAndLoadWav2VecModel", "model"): ("wav2vec2_folder", "transformers", "path"),
    **{(t, "model_name"): ("qwenvl", "LLM", "qwenvl") for t in
       ("AILab_QwenVL", "AILab_QwenVL_Advanced", "AILab_QwenVL_PromptEnhancer")},
}

#: Loader inputs that read ``.pth`` files weights-only without the run's opt-in: a ``.pth``
#: name gets a ``.pth`` stand-in (a plain tensor dict, written with ``torch.save``).
PTH_LOADERS = frozenset({("UpscaleModelLoader", "model_name"), ("CRT_UpscaleModelAdv", "upscale_model_name"),
                         ("RIFE VFI", "ckpt_name"), ("RIFEInterpolation", "model_name"), ("FILM VFI", "ckpt_name"),
                         ("DepthAnythingV2Preprocessor", "ckpt_name")})
#: Loader inputs that name a model by a bare name the node turns into a file of a models
#: folder: ``(folder, suffix of the stand-in)``. ComfyUI-Upscaler-Tensorrt's loader names an
#: upscaler (``4x-UltraSharp``), whose PyTorch release wfrun runs from ``upscale_models``.
NAMED_MODEL_INPUTS = {("LoadUpscalerTensorrtModel", "model"): ("upscale_models", ".safetensors")}
#: Loader inputs that read TorchScript archives as data (``models.torchscript_weights``): a
#: ``.pt`` name gets a TorchScript stand-in (wfrun's own tiny network, traced and saved).
TORCHSCRIPT_LOADERS = frozenset({("FILM VFI", "ckpt_name")})

#: Loader inputs that read GGUF files (ComfyUI-GGUF's): a ``.gguf`` name gets a GGUF stand-in.
GGUF_LOADERS = frozenset({("UnetLoaderGGUF", "unet_name"), ("UnetLoaderGGUFAdvanced", "unet_name"),
                          ("UnetLoaderGGUFDisTorchMultiGPU", "unet_name"),
                          ("CLIPLoaderGGUF", "clip_name"), ("WanVideoModelLoader", "model"),
                          ("WanVideoVACEModelSelect", "vace_model"), ("WanVideoExtraModelSelect", "extra_model"),
                          ("VaeGGUF", "vae_name"), ("MultiTalkModelLoader", "model"),
                          ("LoaderGGUF", "gguf_name"), ("LoaderGGUFAdvanced", "gguf_name"),
                          ("ClipLoaderGGUF", "clip_name")})

#: What a models folder holds, for loaders not listed above, with the layout of its files.
FOLDER_KINDS: dict[str, tuple[str, str]] = {
    "diffusion_models": ("wan_transformer", "original"), "unet": ("wan_transformer", "original"),
    "vae": ("wan_vae", "original"), "text_encoders": ("umt5", "original"), "clip": ("umt5", "original"),
    "clip_vision": ("clip_vision", "transformers"), "loras": ("lora", ""),
    "depthanything": ("depth_anything_v2", ""), "checkpoints": ("checkpoint", ""),
    "upscale_models": ("upscale", ""), "rife": ("rife", ""), "film": ("film", ""), "sam2": ("sam2", ""),
    "audio_encoders": ("wav2vec2", ""),
}

#: The default storage of each kind when the name does not say.
DEFAULT_PRECISION = {"wan_transformer": "bf16", "wan_vace_module": "bf16", "wan_vae": "bf16", "umt5": "bf16", "clip_vision": "fp16",
                     "lora": "bf16", "control_lora": "bf16", "depth_anything_v2": "fp32", "sam3": "fp16",
                     "sam2": "fp32", "taehv": "fp16", "upscale": "fp32", "rife": "fp32", "film": "fp32", "vitpose": "fp32",
                     "yolo_e2e": "fp32", "wav2vec2": "fp16", "multitalk": "fp16", "fantasytalking": "fp16",
                     "uni3c": "fp16", "whisper": "fp16",
                     "mel_band_roformer": "fp16"}

KIND_LABELS = {"wan_vae": "Wan VAE", "wan_vace_module": "Wan VACE module (VACE blocks only)", "umt5": "UMT5-XXL text encoder", "clip_vision": "CLIP ViT-H vision encoder",
               "florence2": "Florence-2 model folder with its tokenizer and processor",
               "clipseg": "CLIPSeg model folder with its tokenizer and processor",
               "qwenvl": "Qwen-VL model folder (Qwen3-VL or Qwen2.5-VL as the name says) with its tokenizer, "
                         "and a stand-in AILab_System_Prompts.json beside it",
               "lora": "Wan LoRA", "control_lora": "Wan control LoRA (32-channel patch embedding)",
               "depth_anything_v2": "Depth Anything V2 model", "sam3": "SAM 3.1 checkpoint (with its CLIP tokenizer)",
               "wan_checkpoint": "Wan all-in-one checkpoint (transformer, UMT5 with its tokenizer, VAE)",
               "sam2": "SAM 2 checkpoint (Meta's layout)",
               "taehv": "TAEHV tiny video autoencoder (taew, released key layout, narrow widths)",
               "upscale": "ESRGAN 4x upscale model", "rife": "RIFE IFNet", "film": "FILM film_net",
               "vitpose": "ViTPose whole-body ONNX model (heatmaps)",
               "yolo_e2e": "end-to-end YOLO person detector ONNX model (YOLOv10 rows)",
               "wav2vec2": "wav2vec 2.0 audio encoder",
               "whisper": "Whisper audio encoder (one 64-wide head, 32 layers)",
               "multitalk": "MultiTalk/InfiniteTalk audio patch (for the tiny Wan 2.1 transformers and wav2vec 2.0)",
               "fantasytalking": "FantasyTalking audio model (for the tiny Wan 2.1 transformers and wav2vec 2.0)",
               "uni3c": "Uni3C controlnet (for the tiny Wan 2.1 transformers)",
               "wav2vec2_folder": "wav2vec 2.0 repository folder (config, preprocessor config, weights)",
               "mel_band_roformer": "Mel-Band RoFormer vocal separator (60 bands, narrow width)"}

_PICKLES = (".ckpt", ".pt", ".pth", ".bin", ".pkl")


class NoStandin(ValueError):
    """wfrun has no tiny model of the family a name asks for; the message says why."""


@dataclass(frozen=True)
class TaskHint:
    """What the workflow does with a model whose name says no task (or no VAE version):
    ``task`` is a transformer family's task (``i2v-a14b``) or a VAE family's name (``wan2.2``),
    ``reason`` says where it was taken from (``node 8 'WanImageToVideo'``). Found by the jobs
    layer from the graph (``wfrun.jobs.standin_context``); used only where the name is silent."""

    what: str    # "transformer" or "vae"
    task: str
    reason: str


@dataclass(frozen=True)
class Family:
    """What a stand-in is: the kind and task, the key layout and the storage."""

    kind: str
    task: str = ""
    layout: str = ""
    precision: str = "bf16"
    rest: str = "bf16"  # dtype of what an fp8 file does not store in fp8

    @property
    def key(self) -> str:
        return "-".join(p for p in (self.kind, self.task, self.layout, self.precision, self.rest) if p)

    def describe(self) -> str:
        """``a tiny Wan 2.1 I2V transformer (original layout, fp8_e4m3fn)``."""
        if self.kind == "wan_transformer":
            family = transformer_family(self.task)
            what = f"{family.label if family else self.task} transformer"
        elif self.kind == "wan_vae":
            what = vae_family(self.task).label
        else:
            what = KIND_LABELS.get(self.kind, self.kind)
        precision = self.precision
        if precision.startswith("gguf-"):
            from wfrun.models.tiny_gguf import TINY_TYPES

            wanted = precision.removeprefix("gguf-").upper()
            stored = TINY_TYPES.get(wanted, "Q8_0")
            precision = f"GGUF {wanted}" + (f", stored as {stored} at tiny width" if stored != wanted else "")
        details = ", ".join(p for p in (f"{self.layout} layout" if self.layout else "", precision) if p)
        return f"a tiny {what} ({details})"


@dataclass(frozen=True)
class Standin:
    """One requested model and the tiny family that stands in for it."""

    folder: str  # the models sub-folder the stand-in is written in
    name: str    # the name as the workflow gives it
    family: Family
    notice: str | None = None  # set when the name gave no clue and a default was taken

    @property
    def relpath(self) -> str:
        return PurePosixPath(self.folder, safe_relative(self.name)).as_posix()


# --- from loader and name to family -----------------------------------------------------


def family_for(class_type: str, input_name: str, folders: str, name: str, *, allow_pickle: bool = False,
               hint: TaskHint | None = None) -> Standin:
    """The stand-in for the file ``name`` that input ``input_name`` of a ``class_type`` node
    lists from ``folders`` (comma-separated, searched in order; the last is written to).
    ``hint``: what the workflow does with the model, taken where the name says no task (a
    transformer, a Wan all-in-one checkpoint) or no Wan version (a VAE); a name that says
    one keeps it.

    Raises :class:`NoStandin` when wfrun has no tiny model of that family, and
    ``ModelPathError`` when the name is not a safe relative file name."""
    rel = safe_relative(name)
    if len(name.encode()) > MAX_NAME_BYTES or any(len(p.encode()) > MAX_PART_BYTES for p in rel.parts):
        raise NoStandin(f"the name is longer than wfrun writes stand-ins for ({MAX_PART_BYTES} bytes a part, "
                        f"{MAX_NAME_BYTES} in all)")
    folder = [f for f in folders.split(",") if f][-1]
    if (class_type, input_name) == ("DiffusionModelSelector", "model_name"):  # KJNodes: by the name, as it looks
        folder = "text_encoders" if "connector" in name.lower() else "diffusion_models"
    folder = VIEW_FOLDERS.get(folder, folder)  # ComfyUI-GGUF's keys list files of these folders
    suffix = PurePosixPath(name.replace("\\", "/")).suffix.lower()
    gguf = suffix == ".gguf"
    if gguf and (class_type, input_name) not in GGUF_LOADERS:
        raise NoStandin(f"{class_type} does not load GGUF files in wfrun (ComfyUI-GGUF's UnetLoaderGGUF and "
                        "CLIPLoaderGGUF do), so no tiny model stands in for this one; "
                        "use the .safetensors release of this model")
    if suffix in _PICKLES and not (suffix in PTH_SUFFIXES and (class_type, input_name) in PTH_LOADERS
                                   or suffix == ".pt" and (class_type, input_name) in TORCHSCRIPT_LOADERS
                                   or allow_pickle and suffix in PICKLE_SUFFIXES):
        raise NoStandin(f"{suffix} files are Python pickles, which wfrun reads only with --allow-pickle; "
                        "use the .safetensors release of this model")
    kind, layout = LOADER_KINDS.get((class_type, input_name)) or FOLDER_KINDS.get(folder, (None, ""))
    if kind is None:
        raise NoStandin(f"wfrun has no tiny model for the '{folder}' folder ({class_type} input '{input_name}')")
    lowered = name.replace("\\", "/").lower()
    base = PurePosixPath(lowered).name
    if kind in _HINTED and hint is not None and hint.what == _HINTED[kind]:
        family, notice = _FAMILIES[kind](lowered, base, layout, hint=hint)
    else:
        family, notice = _FAMILIES[kind](lowered, base, layout)
    if gguf:
        from wfrun.models.tiny_gguf import release_type

        if family.kind not in ("wan_transformer", "wan_vace_module", "umt5", "wan_vae", "multitalk"):
            raise NoStandin(f"wfrun has no tiny GGUF {KIND_LABELS.get(kind, kind)}")
        family = Family(family.kind, family.task, "llama.cpp" if kind == "umt5" else "original",
                        "gguf-" + release_type(base).lower(), "")
    return Standin(folder, name, family, notice)


def folder_standin_for(class_type: str, input_name: str, value: str) -> Standin | None:
    """The stand-in *folder* for a loader input that names a model folder (``FOLDER_LOADERS``),
    or None for any other input. A repository id stands in under its last part, where the
    pack downloads it (``microsoft/Florence-2-base`` -> ``LLM/Florence-2-base``).

    Raises ``ModelPathError`` when the name is not a safe relative folder name."""
    entry = FOLDER_LOADERS.get((class_type, input_name))
    if entry is None:
        return None
    kind, folder, repo_id = entry
    name = value.replace("\\", "/").rsplit("/", 1)[-1] if repo_id is True else value
    if repo_id == "qwenvl":  # ComfyUI-QwenVL(-Mod): a model name, kept in Qwen-VL/<its repository's last part>
        from wfrun.models.qwenvl import SUBFOLDER, folder_for

        name = f"{SUBFOLDER}/{folder_for(value)}"
    rel = safe_relative(name)
    if len(name.encode()) > MAX_NAME_BYTES or any(len(p.encode()) > MAX_PART_BYTES for p in rel.parts):
        raise NoStandin(f"the name is longer than wfrun writes stand-ins for ({MAX_PART_BYTES} bytes a part)")
    from wfrun.models.clipseg_tiny import TINY_CLIPSEG_VERSION
    from wfrun.models.florence2_tiny import TINY_FLORENCE2_VERSION

    notice = f"in {folder}/{name}, where the pack downloads {value}" if repo_id else None
    # the writer's version in the family key: a changed tiny folder is written afresh
    from wfrun.models.qwenvl_tiny import TINY_QWENVL_VERSION

    version = {"florence2": TINY_FLORENCE2_VERSION, "clipseg": TINY_CLIPSEG_VERSION, "wav2vec2_folder": "1",
               "qwenvl": TINY_QWENVL_VERSION}[kind]
    return Standin(folder, name, Family(kind, f"v{version}", "transformers", "fp32"), notice)


def _precision(name: str, default: str, fp8: bool = True) -> str:
    """The storage a release name states (``fp8_e4m3fn_scaled``, ``bf16``, …), else ``default``."""
    if fp8 and re.search(r"fp8|e4m3|e5m2", name):
        fmt = "fp8_e5m2" if "e5m2" in name else "fp8_e4m3fn"
        return fmt + ("_scaled" if "scaled" in name else "")
    for tag in ("bf16", "fp16", "fp32"):
        if tag in name:
            return tag
    return default


def _transformer(name: str, base: str, layout: str, hint: TaskHint | None = None) -> tuple[Family, str | None]:
    task = task_from_name(name)
    notice = None
    if task is None and hint is not None:
        task = hint.task
        notice = f"the name says no task: {_task_label(task)} was taken from what the workflow does ({hint.reason})"
    elif task is None:
        task = "t2v"
        notice = ("the name says no task (T2V, I2V, FLF2V, Fun-Control, Fun-InP, VACE, TI2V, …): the loader's "
                  "default, T2V, was taken")
    if re.match(r"wan2[._]\d_", base) or task == "t2v-causal":  # ComfyUI's repackaged files (Causal Forcing's too)
        layout = "comfyui"
    precision = _precision(name, DEFAULT_PRECISION["wan_transformer"])
    rest = "fp16" if layout == "comfyui" and precision.endswith("_scaled") else "bf16"
    return Family("wan_transformer", task, layout, precision, rest), notice


def _vace_module(name: str, base: str, layout: str) -> tuple[Family, str | None]:
    """WanVideoVACEModelSelect's file: a separate VACE module, in the original key names."""
    return Family("wan_vace_module", "", "original", _precision(name, DEFAULT_PRECISION["wan_vace_module"])), None


def _extra_module(name: str, base: str, layout: str) -> tuple[Family, str | None]:
    """WanVideoExtraModelSelect's file: a VACE module when its name says so; the pack's other
    extra weights (FlashVSR, MTV-Crafter, Lynx, Ovi audio) get none, as wfrun cannot use them."""
    if "vace" not in base:
        raise NoStandin("wfrun lays only VACE modules over a model, and the name does not say VACE "
                        "(the pack's other extra weights: FlashVSR, MTV-Crafter, Lynx, Ovi audio)")
    return _vace_module(name, base, layout)


def _selected_file(name: str, base: str, layout: str) -> tuple[Family, str | None]:
    """KJNodes' DiffusionModelSelector's file (a path for DiffusionModelLoaderKJ's
    ``extra_state_dict``): a VACE module when its name says so, else a transformer; none for
    the pack's LTX-2 connectors (in ``text_encoders``), which wfrun does not run."""
    if "connector" in base:
        raise NoStandin("the name is an LTX-2 connector model, which wfrun does not run")
    if "vace" in base and "module" in base:
        return _vace_module(name, base, layout)
    return _transformer(name, base, layout)


#: A VAE name that says Wan 2.1 (``wan_2.1_vae``, ``Wan2_1_VAE_bf16``); one saying neither 2.1
#: nor 2.2 (``vae.safetensors``) may take its version from the workflow (``TaskHint``).
_WAN21_VAE_NAME = re.compile(r"wan[-_. ]?2[-_. ]?1|wan21")


def _vae(name: str, base: str, layout: str, hint: TaskHint | None = None) -> tuple[Family, str | None]:
    if "taew" in base or "taehv" in base:
        raise NoStandin("no tiny TAEW (tiny autoencoder) model: wfrun cannot run it yet")
    family = vae_family_from_name(base)
    notice = None
    if hint is not None and family.name == "wan2.1" and not _WAN21_VAE_NAME.search(base) and hint.task != family.name:
        family = vae_family(hint.task)
        notice = f"the name says no Wan version: {family.label} was taken from what the workflow does ({hint.reason})"
    task = "" if family.name == "wan2.1" else family.name  # Wan 2.1 stand-ins keep their earlier key
    return Family("wan_vae", task, "original", _precision(name, DEFAULT_PRECISION["wan_vae"], fp8=False)), notice


def _umt5(name: str, base: str, layout: str) -> tuple[Family, str | None]:
    if re.search(r"umt5[-_]?xxl[-_]enc", base):
        layout = "original"  # Kijai's encoder-only file
    elif re.search(r"umt5_?xxl", base):
        layout = "transformers"  # ComfyUI's repackaged file, with its tokenizer inside
    precision = _precision(name, DEFAULT_PRECISION["umt5"])
    rest = "fp16" if layout == "transformers" and precision.endswith("_scaled") else "bf16"
    return Family("umt5", "", layout or "original", precision, rest), None


def _clip_vision(name: str, base: str, layout: str) -> tuple[Family, str | None]:
    if "xlm-roberta" in base or "xlm_roberta" in base:
        layout = "original"  # Kijai's open-clip-xlm-roberta-large-vit-huge-14(_visual)
    elif "open_clip" in base or "open-clip" in base:
        layout = "open_clip"
    elif "clip_vision_h" in base:
        layout = "transformers"
    return Family("clip_vision", "", layout or "transformers",
                  _precision(name, DEFAULT_PRECISION["clip_vision"], fp8=False)), None


def _lora(name: str, base: str, layout: str) -> tuple[Family, str | None]:
    control = re.search(r"control[-_ ]?lora", base) is not None
    kind = "control_lora" if control else "lora"
    return Family(kind, "", "", _precision(name, DEFAULT_PRECISION[kind], fp8=False)), None


def _depth(name: str, base: str, layout: str) -> tuple[Family, str | None]:
    return Family("depth_anything_v2", "", "", "fp16" if "fp16" in base else "fp32"), None


def _checkpoint(name: str, base: str, layout: str, hint: TaskHint | None = None) -> tuple[Family, str | None]:
    """CheckpointLoaderSimple's files: SAM 3.1 (ComfyUI's ``sam3.1_multiplex``), and a Wan
    all-in-one checkpoint (transformer, UMT5 and VAE in one file, e.g. the "rapid AIO"
    merges) when the name says Wan or the workflow samples its model with Wan nodes
    (``hint``), its task as the name says, else as the workflow does (T2V when neither says)."""
    if "sam3" in base:
        return Family("sam3", "", "", _precision(name, DEFAULT_PRECISION["sam3"], fp8=False)), None
    if "wan" in base or hint is not None:
        task = task_from_name(name) if "wan" in base else None
        if task:
            return Family("wan_checkpoint", task, "", "bf16"), None
        if hint is not None:
            notice = (f"the name says no {'task' if 'wan' in base else 'model family'}: a {_task_label(hint.task)} "
                      f"all-in-one checkpoint was taken from what the workflow does ({hint.reason})")
            return Family("wan_checkpoint", hint.task, "", "bf16"), notice
        return Family("wan_checkpoint", "t2v", "", "bf16"), ("the name says no task (T2V, I2V, …): a T2V "
                                                             "all-in-one checkpoint stands in")
    raise NoStandin("wfrun has tiny stand-ins for SAM 3.1 and Wan all-in-one checkpoints among "
                    "CheckpointLoaderSimple's files, and the name says neither; give the real file with --models")


def _sam2(name: str, base: str, layout: str) -> tuple[Family, str | None]:
    """ComfyUI-segment-anything-2's files: SAM 2.1 when the name says 2.1 (the pack's rule),
    else SAM 2.0; the storage as the name says (Kijai's ``-fp16`` files), else fp32."""
    version = "2.1" if "2.1" in base else "2.0"
    return Family("sam2", version, "", "fp16" if "fp16" in base else "fp32"), None


def _taehv(name: str, base: str, layout: str) -> tuple[Family, str | None]:
    """WanVideoTinyVAELoader's taew files: Wan 2.2's 48-channel one when the name says 2_2."""
    if not base.endswith((".safetensors", ".sft")):
        raise NoStandin(f"{base}: wfrun writes tiny TAEHV stand-ins as .safetensors only")
    task = "2_2" if re.search(r"taew2[._]2|wan2[._]2", base) else "2_1"
    return Family("taehv", task, "", "fp16"), None


def _upscale(name: str, base: str, layout: str) -> tuple[Family, str | None]:
    """Every upscaler name gets a tiny 4x ESRGAN: the scale a name states is not checked."""
    return Family("upscale", "esrgan", "", "fp32"), None


def _rife(name: str, base: str, layout: str) -> tuple[Family, str | None]:
    from wfrun.models.rife import CHECKPOINT_ARCH, OTHER_CHECKPOINT_ARCH

    arch = CHECKPOINT_ARCH.get(base) or OTHER_CHECKPOINT_ARCH.get(base)
    if arch is None:
        raise NoStandin(f"wfrun builds RIFE {', '.join(sorted(set(CHECKPOINT_ARCH.values())))} only "
                        f"({', '.join(CHECKPOINT_ARCH)})")
    return Family("rife", arch, "", "fp32"), None


def _film(name: str, base: str, layout: str) -> tuple[Family, str | None]:
    """Every FILM name gets a tiny film_net (TorchScript for ``.pt``)."""
    return Family("film", "", "", "fp32"), None


def _onnx(kind: str):
    """ONNX stand-ins: one tiny network per kind, whatever the name says."""
    def family(name: str, base: str, layout: str) -> tuple[Family, str | None]:
        if not base.endswith(".onnx"):
            raise NoStandin(f"{base}: not an ONNX file; the node loads ONNX models only")
        return Family(kind, "", "onnx", "fp32", ""), None
    return family


def _wav2vec2(name: str, base: str, layout: str) -> tuple[Family, str | None]:
    """AudioEncoderLoader's files: a Whisper encoder when the name says Whisper (HuMo's);
    wav2vec 2.0 large when it says large or XLS-R, else base (chinese-wav2vec2-base,
    MultiTalk's)."""
    if "whisper" in base:
        return _whisper(name, base, layout)
    variant = "large" if re.search(r"large|xlsr|xls-r|xls_r", base) else "base"
    return Family("wav2vec2", variant, "", _precision(name, DEFAULT_PRECISION["wav2vec2"], fp8=False)), None


def _whisper(name: str, base: str, layout: str) -> tuple[Family, str | None]:
    """A Whisper encoder (HuMo's large-v3), stored as the name says."""
    return Family("whisper", "", "", _precision(name, DEFAULT_PRECISION["whisper"], fp8=False)), None


def _multitalk(name: str, base: str, layout: str) -> tuple[Family, str | None]:
    """ModelPatchLoader's files: wfrun runs the MultiTalk/InfiniteTalk audio patch only."""
    if not re.search(r"talk", base):
        raise NoStandin("wfrun runs the MultiTalk/InfiniteTalk audio patches only among ComfyUI's model patches, and "
                        "this name says neither")
    return Family("multitalk", "", "", _precision(name, DEFAULT_PRECISION["multitalk"], fp8=False)), None


def _fantasytalking(name: str, base: str, layout: str) -> tuple[Family, str | None]:
    """FantasyTalkingModelLoader's file: sized for the tiny transformers and wav2vec."""
    return Family("fantasytalking", "", "", _precision(name, DEFAULT_PRECISION["fantasytalking"], fp8=False)), None


def _uni3c(name: str, base: str, layout: str) -> tuple[Family, str | None]:
    """WanVideoUni3C_ControlnetLoader's file: sized for the tiny I2V transformers."""
    return Family("uni3c", "", "", _precision(name, DEFAULT_PRECISION["uni3c"], fp8=False)), None


def _mel_band_roformer(name: str, base: str, layout: str) -> tuple[Family, str | None]:
    """MelBandRoFormerModelLoader's files: one architecture, stored as the name says."""
    return Family("mel_band_roformer", "", "", _precision(name, DEFAULT_PRECISION["mel_band_roformer"], fp8=False)), None


def _task_label(task: str) -> str:
    """``Wan 2.2 I2V A14B`` for ``i2v-a14b``: the family's label, else the task."""
    family = transformer_family(task)
    return family.label if family is not None else task


#: Kinds whose family may come from the workflow (``TaskHint.what`` they take).
_HINTED = {"wan_transformer": "transformer", "checkpoint": "transformer", "wan_vae": "vae"}

_FAMILIES = {"wan_selected_file": _selected_file, "wan_transformer": _transformer, "wan_vace_module": _vace_module,
             "wan_extra_module": _extra_module,
             "wan_vae": _vae, "umt5": _umt5,
             "clip_vision": _clip_vision,
             "lora": _lora, "depth_anything_v2": _depth, "checkpoint": _checkpoint, "upscale": _upscale,
             "sam2": _sam2, "taehv": _taehv, "rife": _rife, "film": _film,
             "vitpose": _onnx("vitpose"), "yolo_e2e": _onnx("yolo_e2e"), "wav2vec2": _wav2vec2,
             "whisper": _whisper,
             "multitalk": _multitalk, "fantasytalking": _fantasytalking, "uni3c": _uni3c,
             "mel_band_roformer": _mel_band_roformer}


# --- writing ------------------------------------------------------------------------------


def standin_cache_root() -> Path:
    """``$WFRUN_CACHE/tiny-standins``, else ``~/.cache/wfrun/tiny-standins``."""
    cache = os.environ.get("WFRUN_CACHE")
    return Path(cache) / "tiny-standins" if cache else Path.home() / ".cache" / "wfrun" / "tiny-standins"


def write_standins(standins: Iterable[Standin], tiny_root: str | Path, cache: str | Path | None = None) -> Path:
    """A models folder holding each stand-in under its requested name; the same set gives the
    same folder, written once (atomically: a finished folder is never half-written)."""
    from wfrun.models.tiny import TINY_VERSION
    from wfrun.models.tiny_gguf import TINY_GGUF_VERSION

    unique: dict[str, Standin] = {}
    for standin in standins:  # two loaders naming one file: the first one's family is written
        unique.setdefault(standin.relpath, standin)
    if len(unique) > MAX_STANDINS:
        raise NoStandin(f"the workflow names {len(unique)} model files; tiny stand-ins are made for at most "
                        f"{MAX_STANDINS}")
    entries = sorted((rel, s.family.key) for rel, s in unique.items())
    digest = hashlib.sha256(json.dumps([TINY_VERSION, TINY_GGUF_VERSION, STANDIN_VERSION, entries]).encode()
                            ).hexdigest()[:16]
    cache = Path(cache) if cache is not None else standin_cache_root()
    root = cache / digest
    if (root / "standins.json").is_file():
        return root
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".standins-", dir=cache))
    try:
        for standin in unique.values():
            _write(standin, staging, Path(tiny_root))
        listing = [{"path": rel, "family": key} for rel, key in entries]
        (staging / "standins.json").write_text(json.dumps(listing, indent=1) + "\n", encoding="utf-8")
        try:
            os.replace(staging, root)
        except OSError:
            if not (root / "standins.json").is_file():  # nobody else finished it either
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # our own staging folder only
    return root


def _write(standin: Standin, root: Path, tiny_root: Path) -> Path:
    from wfrun.models.tiny import DEPTH_FILES, TinySpec, write_file

    family = standin.family
    target = root / standin.relpath
    if family.kind == "depth_anything_v2":
        # Depth Anything's writer lives with its executor; the tiny folder holds both precisions.
        source = next(tiny_root / "depthanything" / name for name in DEPTH_FILES if family.precision in name)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.suffix.lower() == ".pth":  # comfyui_controlnet_aux's releases: the same tensors, torch.save'd
            import torch
            from safetensors.torch import load_file

            torch.save(load_file(str(source)), target)
        else:
            shutil.copyfile(source, target)
        return target
    if family.kind == "florence2":  # a folder: config, tokenizer, processor, model.safetensors
        from wfrun.models.florence2_tiny import write_tiny_florence2

        return write_tiny_florence2(target, seed=zlib.crc32(standin.name.encode()), scripted=True)
    if family.kind == "qwenvl":  # a folder, and the pack's prompts file beside it
        from wfrun.models.qwenvl_tiny import write_tiny_prompts, write_tiny_qwenvl

        write_tiny_prompts(target.parent)
        kind = "qwen2_5_vl" if "qwen2" in standin.name.lower() else "qwen3_vl"
        return write_tiny_qwenvl(target, kind=kind, seed=zlib.crc32(standin.name.encode()), scripted=True)
    if family.kind == "wav2vec2_folder":  # a folder: config, preprocessor config, model.safetensors
        from wfrun.models.wav2vec2_folder import write_tiny_folder

        return write_tiny_folder(target, seed=zlib.crc32(standin.name.encode()))
    if family.kind == "fantasytalking":
        import torch

        from wfrun.models.fantasytalking import write_tiny as write_tiny_fantasytalking
        from wfrun.models.tiny import TRANSFORMER
        from wfrun.models.wav2vec2 import TINY

        return write_tiny_fantasytalking(target, seed=zlib.crc32(standin.name.encode()), dim=TRANSFORMER["dim"],
                                         blocks=TRANSFORMER["layers"], audio_dim=TINY["width"],
                                         dtype={"fp32": torch.float32, "bf16": torch.bfloat16}.get(family.precision,
                                                                                                     torch.float16))
    if family.kind == "uni3c":
        import torch

        from wfrun.models.tiny import TRANSFORMER
        from wfrun.models.uni3c import write_tiny as write_tiny_uni3c

        return write_tiny_uni3c(target, seed=zlib.crc32(standin.name.encode()), conv_out_dim=TRANSFORMER["dim"],
                                out_dim=TRANSFORMER["dim"], layers=TRANSFORMER["layers"],
                                dtype={"fp32": torch.float32, "bf16": torch.bfloat16}.get(family.precision,
                                                                                            torch.float16))
    if family.kind == "clipseg":  # a folder: config, tokenizer, processor, model.safetensors
        from wfrun.models.clipseg_tiny import write_tiny_clipseg

        return write_tiny_clipseg(target, seed=zlib.crc32(standin.name.encode()))
    if family.kind in ("vitpose", "yolo_e2e"):
        from wfrun.models.pose.tiny import write_tiny_vitpose, write_tiny_yolo_e2e

        writer = write_tiny_vitpose if family.kind == "vitpose" else write_tiny_yolo_e2e
        return writer(target, seed=zlib.crc32(standin.name.encode()))
    if family.kind == "wav2vec2":
        import torch

        from wfrun.models.wav2vec2 import write_tiny

        return write_tiny(target, family.task, seed=zlib.crc32(standin.name.encode()),
                          dtype={"fp32": torch.float32, "bf16": torch.bfloat16}.get(family.precision, torch.float16))
    if family.kind == "whisper":
        import torch

        from wfrun.models.whisper import write_tiny as write_tiny_whisper

        return write_tiny_whisper(target, seed=zlib.crc32(standin.name.encode()),
                                  dtype={"fp32": torch.float32, "bf16": torch.bfloat16}.get(family.precision,
                                                                                              torch.float16))
    if family.kind == "mel_band_roformer":
        import torch

        from wfrun.models.mel_band_roformer import write_tiny as write_tiny_mel_band

        return write_tiny_mel_band(target, seed=zlib.crc32(standin.name.encode()),
                                   dtype={"fp32": torch.float32, "bf16": torch.bfloat16}.get(family.precision,
                                                                                               torch.float16))
    if family.kind == "multitalk":
        import torch

        from wfrun.models.multitalk import write_tiny as write_tiny_multitalk, write_tiny_gguf

        if family.precision.startswith("gguf-"):  # Kijai's InfiniteTalk GGUF releases
            from wfrun.models.tiny_gguf import TINY_TYPES

            return write_tiny_gguf(target, TINY_TYPES.get(family.precision.removeprefix("gguf-").upper(), "Q8_0"),
                                   seed=zlib.crc32(standin.name.encode()))
        return write_tiny_multitalk(target, seed=zlib.crc32(standin.name.encode()),
                                    dtype={"fp32": torch.float32, "bf16": torch.bfloat16}.get(family.precision,
                                                                                                torch.float16))
    if family.kind == "film":
        from wfrun.models.tiny_film import write_tiny_film

        return write_tiny_film(target, seed=zlib.crc32(standin.name.encode()))
    if family.kind in ("upscale", "rife"):
        from wfrun.models.rife import tiny_ifnet_state_dict
        from wfrun.models.tiny_upscale import save_weights, tiny_esrgan_state_dict

        seed = zlib.crc32(standin.name.encode())
        state = tiny_esrgan_state_dict(seed=seed) if family.kind == "upscale" else tiny_ifnet_state_dict(family.task, seed)
        return save_weights(state, target)
    if family.precision.startswith("gguf-"):
        from wfrun.models.tiny_gguf import (TINY_TYPES, write_umt5_gguf, write_vace_module_gguf, write_wan_gguf,
                                            write_wan_vae_gguf)

        qtype = TINY_TYPES.get(family.precision.removeprefix("gguf-").upper(), "Q8_0")
        seed = zlib.crc32(standin.name.encode())
        if family.kind == "umt5":
            return write_umt5_gguf(target, qtype, seed=seed)
        if family.kind == "wan_vae":
            return write_wan_vae_gguf(target, family.task, qtype, seed=seed)
        if family.kind == "wan_vace_module":
            return write_vace_module_gguf(target, qtype, seed=seed, rest="F16" if qtype in ("F16", "F32") else "Q8_0")
        return write_wan_gguf(target, family.task, qtype, seed=seed, rest="F16" if qtype in ("F16", "F32") else "Q8_0")
    if family.kind == "sam2":
        import torch

        from wfrun.models.tiny_sam2 import write_tiny_sam2

        return write_tiny_sam2(target, version=family.task, seed=zlib.crc32(standin.name.encode()),
                               dtype=torch.float16 if family.precision == "fp16" else torch.float32)
    if family.kind == "taehv":
        import torch

        from wfrun.models.taehv import tiny_taehv_state_dict
        from wfrun.models.tiny_upscale import save_weights

        state = tiny_taehv_state_dict(48 if family.task == "2_2" else 16, seed=zlib.crc32(standin.name.encode()))
        return save_weights({k: v.to(torch.float16) for k, v in state.items()}, target)
    if family.kind == "wan_checkpoint":  # its writer puts the UMT5 tokenizer beside it
        from wfrun.models.tiny import write_wan_all_in_one

        return write_wan_all_in_one(target, family.task)
    if family.kind == "sam3":  # its writer puts the CLIP tokenizer beside it, where the loader looks first
        import torch

        from wfrun.models.tiny_sam3 import write_tiny_sam3

        return write_tiny_sam3(target, dtype={"fp16": torch.float16, "bf16": torch.bfloat16}.get(
            family.precision, torch.float32))
    rel = PurePosixPath(standin.relpath)
    spec = TinySpec(rel.parts[0], "/".join(rel.parts[1:]), family.kind, family.task, family.layout or "original",
                    family.precision, family.rest)
    written = write_file(spec, root)
    if written.suffix.lower() in PICKLE_SUFFIXES:  # a pickle name (--allow-pickle): the same tensors, torch.save'd
        import torch
        from safetensors.torch import load

        state = load(written.read_bytes())  # in memory: the file is replaced, never written while mapped
        pickled = written.with_name(written.name + ".tmp")
        torch.save(state, pickled)
        os.replace(pickled, written)
    return written
