"""The wrapper's rules that ``wfrun validate`` and ``wfrun run`` check before anything runs,
registered with ``wfrun.nodes.checks`` and passed to ``wfrun.graph.check`` by the job layer.

- Frame counts of Wan nodes are 4n+1 and their sizes multiples of 16: the Wan VAE keeps
  the first frame and compresses each following 4 frames into one latent frame, and
  downsamples by 8 before the transformer's 2x2 patches. The rule holds for every node
  whose type names Wan (ComfyUI's own ``WanImageToVideo`` & co. too), on the inputs that
  carry those meanings there. ComfyUI's own nodes (pack comfy-core) run other sizes: their
  latent is ``size // 8`` (``// 16`` with Wan 2.2's VAE), the VAE centre-crops the pixels to
  its grid, and the model pads the latent to whole 2x2 patches circularly and crops its
  output back (``WanModel._forward``), as wfrun does: a warning there, except on the nodes
  whose output ComfyUI's model then fails on (:data:`CORE_SIZE_REFUSED`).
- MultiTalk / InfiniteTalk embeds with two or more speakers have ``ref_target_masks``
  connected (the pack's sampler fails without them).
- Image embeds match the model: I2V embeds into a T2V model (or the reverse) is told
  apart by the model's weights when the models folder is known, else by its file name.
"""

from __future__ import annotations

from typing import Any, Iterator

from wfrun.diagnostics import Diagnostic, Severity
from wfrun.graph.check import CheckOptions, node_diagnostic
from wfrun.graph.model import LinkRef, NodeInstance, WorkflowGraph
from wfrun.models.paths import ModelPathError, ModelRoots, find_model
from wfrun.nodes.checks import graph_check, value_check
from wfrun.specs.spec import InputSpec

#: Inputs holding a Wan frame count (latent frames = (N - 1) / 4 + 1).
FRAME_INPUTS = frozenset({"num_frames", "length", "frame_num"})
#: Inputs holding a Wan pixel size (VAE /8, then 2x2 patches).
SIZE_INPUTS = frozenset({"width", "height"})
#: Node types whose image embeds are image-to-video conditioning.
I2V_EMBED_NODES = frozenset({"WanVideoImageToVideoEncode", "WanVideoImageClipEncode"})
T2V_EMBED_NODES = frozenset({"WanVideoEmptyEmbeds"})

_diag = node_diagnostic


def is_wan_node(node: NodeInstance) -> bool:
    return node.class_type.startswith("Wan") or "WanVideo" in node.class_type


#: The pack of ComfyUI's own nodes: its Wan nodes floor a frame count that is not 4n+1 to
#: the latent frames below it ((N - 1) // 4 + 1) and run, as wfrun's executors of them do.
CORE_PACK = "comfy-core"
#: ComfyUI's own Wan nodes whose output fails in ComfyUI at a size that is not a multiple
#: of 16, and why; the others' latents are padded to whole 2x2 patches by ComfyUI's
#: ``WanModel._forward`` (circularly) and the output cropped back, as wfrun's sampler does.
CORE_SIZE_REFUSED = {
    "WanVaceToVideo": (lambda size: True,
                       "ComfyUI's node folds the mask on an 8x8 grid, and its VACE model embeds the control "
                       "latents without padding them to whole 2x2 patches while it pads the video latent, so "
                       "the two token grids then differ"),
    **dict.fromkeys(("WanSoundImageToVideo", "WanSoundImageToVideoExtend"), (
        lambda size: size // 8 % 2 == 1,
        "its latent side (size // 8) is odd, and ComfyUI's S2V model embeds the control video latents these "
        "nodes always attach without padding them to whole 2x2 patches while it pads the video latent, so "
        "the two token grids then differ")),
}


@value_check
def wan_shape(graph: WorkflowGraph, node: NodeInstance, spec: InputSpec, value: Any) -> Iterator[Diagnostic]:
    if not is_wan_node(node) or spec.type != "INT":
        return
    if spec.name in FRAME_INPUTS and (value - 1) % 4 != 0:
        lower = int(value - 1) // 4 * 4 + 1
        core = node.spec is not None and node.spec.pack == CORE_PACK
        yield _diag(graph, node, "frame-count", Severity.WARNING if core else Severity.ERROR,
                    f"'{spec.name}' is {value}, not 4n+1: the Wan VAE keeps the first frame and "
                    "compresses every 4 following frames into one latent frame"
                    + (f"; ComfyUI (and wfrun) make {(int(value) - 1) // 4 + 1} latent frames of it, "
                       f"{lower} frames once decoded" if core else ""),
                    input=spec.name, found=value, expected="4n+1 (…, 77, 81, 85, …)",
                    hint=f"use {lower} or {lower + 4}")
    if spec.name in SIZE_INPUTS and value % 16 != 0:
        lower = int(value) // 16 * 16
        core = node.spec is not None and node.spec.pack == CORE_PACK
        refused = CORE_SIZE_REFUSED.get(node.class_type) if core else None
        if refused is not None and refused[0](int(value)):
            reason = refused[1]
            yield _diag(graph, node, "size-multiple", Severity.ERROR,
                        f"'{spec.name}' is {value}, not a multiple of 16: {reason}",
                        input=spec.name, found=value, expected="a multiple of 16",
                        hint=f"use {lower} or {lower + 16}")
            return
        yield _diag(graph, node, "size-multiple", Severity.WARNING if core else Severity.ERROR,
                    f"'{spec.name}' is {value}, not a multiple of 16: the Wan VAE downsamples by 8 "
                    "and the transformer groups latents in 2x2 patches"
                    + ("; ComfyUI (and wfrun) pad the latent to whole patches (wrapping around) and "
                       "crop the model's output back" if core else ""),
                    input=spec.name, found=value, expected="a multiple of 16",
                    hint=f"use {lower} or {lower + 16}")


# --- image-to-video vs text-to-video --------------------------------------------------

@graph_check
def embeds_mismatch(graph: WorkflowGraph, options: CheckOptions) -> Iterator[Diagnostic]:
    for node in graph.nodes():
        embeds = node.inputs.get("image_embeds")
        model = node.inputs.get("model")
        if not (isinstance(embeds, LinkRef) and isinstance(model, LinkRef)):
            continue
        embeds_kind = _embeds_kind(graph, embeds)
        model_kind, how = _model_kind(graph, model.node_id, options)
        if embeds_kind is None or model_kind is None or embeds_kind == model_kind:
            continue
        severity = Severity.ERROR if how == "weights" else Severity.WARNING
        yield _diag(graph, node, "embeds-mismatch", severity,
                    f"{'an' if model_kind.lower() == 'i2v' else 'a'} {model_kind.upper()} model (by its {how}) "
                    f"is given {embeds_kind.upper()} image embeds",
                    input="image_embeds", found=embeds_kind.upper(), expected=model_kind.upper(),
                    hint="use WanVideoImageToVideoEncode with an I2V model, WanVideoEmptyEmbeds with a T2V model")


def _embeds_kind(graph: WorkflowGraph, ref: LinkRef) -> str | None:
    source = graph.node(ref.node_id)
    if source.class_type in I2V_EMBED_NODES:
        return "i2v"
    if source.class_type in T2V_EMBED_NODES and "control_embeds" not in source.inputs:
        return "t2v"
    return None


def _model_kind(graph: WorkflowGraph, node_id: str, options: CheckOptions) -> tuple[str | None, str]:
    """Follow ``model`` links back to a loader and tell I2V from T2V (a loop, not a
    recursion: a chain of thousands of LoRA or patch nodes is one step each)."""
    seen: set[str] = set()
    while node_id not in seen:
        seen.add(node_id)
        node = graph.node(node_id)
        name = node.inputs.get("model")
        if not isinstance(name, LinkRef):
            break
        node_id = name.node_id
    else:
        return None, ""
    if not isinstance(name, str) or "Loader" not in node.class_type:
        return None, ""
    if options.models is not None:
        kind = _kind_from_weights(options.models, name)
        if kind is not None:
            return kind, "weights"
    lowered = name.lower().replace("\\", "/").rsplit("/", 1)[-1]
    if "ti2v" in lowered:  # TI2V-5B takes empty embeds for both (its image comes as extra latents)
        return None, ""
    if "i2v" in lowered or "flf2v" in lowered:
        return "i2v", "file name"
    if "t2v" in lowered and "fun" not in lowered and "vace" not in lowered:
        return "t2v", "file name"
    return None, ""


def _kind_from_weights(roots: ModelRoots, name: str) -> str | None:
    """T2V or I2V, from the patch embedding's input channels (``models.families``)."""
    from wfrun.models.families import conditioning_by_channels
    from wfrun.models.header import read_header  # local: only needed with --models

    try:
        path = find_model(roots, "diffusion_models", name)
        header = read_header(path)
    except (ModelPathError, ValueError, OSError):
        return None
    for key, info in header.items():
        if key.endswith("patch_embedding.weight") and len(info.get("shape", [])) == 5:
            return {"text": "t2v", "image": "i2v"}.get(conditioning_by_channels(info["shape"][1]) or "")
    return None



# --- DownloadAndLoadWav2VecModel's repository folder ------------------------------------------

@graph_check
def wav2vec_folder_missing(graph: WorkflowGraph, options: CheckOptions) -> Iterator[Diagnostic]:
    """The wav2vec repository folder (``models/transformers/<repository id>``) is found before
    anything loads: the generic model check looks for files, and this loader names a folder."""
    from wfrun.models.wav2vec2_folder import FOLDER, find_folder

    if options.models is None:
        return
    for node in graph.nodes():
        model = node.inputs.get("model")
        if node.class_type != "DownloadAndLoadWav2VecModel" or not isinstance(model, str) or not model:
            continue
        try:
            find_folder(options.models, model)
        except ModelPathError as err:
            yield _diag(graph, node, "missing-model", Severity.ERROR, str(err), input="model", found=model,
                        expected=f"the repository folder models/{FOLDER}/{model}",
                        hint=f"wfrun never downloads: put the Hugging Face repository {model} in "
                             f"<models>/{FOLDER}/{model}")


@graph_check
def multitalk_speakers_without_masks(graph: WorkflowGraph, options: CheckOptions) -> Iterator[Diagnostic]:
    """Speakers' audio linked into MultiTalkWav2VecEmbeds with no ``ref_target_masks``:
    refused before anything loads, with what to connect (``multitalk._speaker_masks``), for
    three or more speakers, and for two in a workflow with no WanVideoImageToVideoMultiTalk
    (whose long-video loop gives two speakers default masks; whether the embeds reach it is
    left to the run, ``multitalk_sampling.multitalk_audio``)."""
    from wfrun.packs.wanvideo.multitalk import SPEAKER_INPUTS, missing_masks_text

    has_loop = any(n.class_type == "WanVideoImageToVideoMultiTalk" for n in graph.nodes())
    for node in graph.nodes():
        if node.class_type != "MultiTalkWav2VecEmbeds" or node.inputs.get("ref_target_masks") is not None:
            continue
        names = [n for n in SPEAKER_INPUTS if isinstance(node.inputs.get(n), LinkRef)]
        if len(names) > 2 or (len(names) == 2 and not has_loop):
            message, hint = missing_masks_text(names)
            yield _diag(graph, node, "missing-input", Severity.ERROR, message, input="ref_target_masks",
                        found="nothing connected", expected=f"a MASK batch of {len(names)} or more masks", hint=hint)


@graph_check
def everanimate_black_background(graph: WorkflowGraph, options: CheckOptions) -> Iterator[Diagnostic]:
    """WanVideoEverAnimateEmbeds with more than one anchor and no ``bg_images``: the pack's
    black background has F + 3N frames, whose latents outnumber the video's whatever F is,
    and the pack cannot line the two up (``everanimate.py``); refused before anything loads."""
    for node in graph.nodes():
        anchors = node.inputs.get("num_video_anchor_latents")
        if (node.class_type != "WanVideoEverAnimateEmbeds" or node.inputs.get("bg_images") is not None
                or not isinstance(anchors, int) or isinstance(anchors, bool) or anchors <= 1):
            continue
        yield _diag(graph, node, "missing-input", Severity.ERROR,
                    f"with {anchors} anchor latents and no bg_images the pack's black background has 3 frames "
                    "per anchor more than the video, so its latents outnumber the video's and the conditioning "
                    "cannot be lined up with them",
                    input="bg_images", found="nothing connected",
                    expected="a background video of num_frames frames",
                    hint="connect bg_images, or set num_video_anchor_latents to 1")
