"""``--smoke``: shrink a workflow so it runs end to end in seconds, to prove it executes.

CI wants to know that a workflow *runs* (every node, every link, the real loaders and the
real sampler) without a GPU or the real weights. Together with the tiny models and stand-in
inputs (``jobs/standins.py``), ``--smoke`` caps the work, in memory only like ``--set``
(the file is never touched), on inputs found by their spec (INT inputs, by name), not per
file:

- sizes: the ``width``/``height`` pair of a node (``custom_width``/``custom_height``, any
  ``<x>_width``/``<x>_height``; a lone one too) is scaled to fit in 64 px keeping its
  aspect, each side a multiple of 16 and at least 16 (Wan's VAE and patch sizes). Values
  that already fit (an 8 px spacer, a 48 px label) and 0 ("keep the input's size") stay;
  the longest side of an image a node makes (``max_side_length``: CRT's bucket crop; core
  ResizeImageMaskNode's ``longer_size``/``shorter_size``) at
  most 64 too;
- frame counts (``num_frames``, ``length``, ``frame_num``, a camera trajectory's
  ``frame_length``, and ``frame_load_cap`` where 0 means "all") at most 9, a 4n+1 count (3 latent frames); at most 17 (5 latent frames) on
  the node giving the size of a video that continues from prefix frames
  (WanVideoDiffusionForcingSampler's ``image_embeds``), so a capped 9-frame prefix leaves
  frames to make;
- sampler ``steps`` at most 2, and step boundaries (start/end/split step) scaled with them;
  explicit ``sigmas`` given beside capped steps (a FloatToSigmas list of Lightning's 4
  steps) are thinned to match as they arrive (:func:`capped_sigmas`);
- MultiTalkWav2VecEmbeds' frames at most 17 (its loudness measure needs 0.4 s of audio), the
  MultiTalk long-video loop's ``frame_window_size`` at most 9 and ``motion_frame`` at most 5;
  the S2V framepack window (WanVideoAddS2VEmbeds' ``frame_window_size``) at most 8, a
  multiple of 4 as that loop needs;
- chunked long-video samplers: ``chunk_frames`` at most 9, ``total_frames`` at most 25 (three chunks);
- context windows at most 5 frames overlapping by 4 (2 latent frames, 1 shared), so the 9
  frames still take several windows and the blending runs;
- pixel paddings and crop insets made for full-size images (``extra_padding``; rgthree's
  Image Inset Crop's four insets) at most 8 px, frames skipped
  or picked from the start of a video or batch (``skip_first_images``/``_frames``,
  ``start_index``, ``batch_index``) at most 2 (negative indices, counted from the end, stay);
- sound cut by time (AudioCrop's ``start_time``/``end_time``) from 0:00 to 0:01, the length of
  the stand-in sound: a window saved for a whole song (0:30 to 0:32) would cut nothing from it.

A value fed by a constant node (``INTConstant``, ``PrimitiveInt``: one number widget, one
INT output, no links in) is capped at that node; a value computed by other nodes is capped
as it arrives (:class:`RuntimeCaps`), unless it was measured from an image, latent or mask
(``GetImageSize``, ``GetImageSizeAndCount``, or arithmetic on their outputs): such a size
describes data that flows on beside it (the same image encoded for a sampler's latents),
and is already small where the nodes that made the data were capped; capping the number
alone would make the two disagree. Inputs the user set with ``--set`` keep the value given.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Iterable

from wfrun.engine.plan import Plan
from wfrun.jobs.encoders import HARDWARE_ENCODER_NODES
from wfrun.packs.comfy_core_models.s2v_conditioning import S2V_MOTION_MIN_SIDE
from wfrun.packs.painter_i2v.flf2v import MIN_SIDE as PAINTER_FLF2V_MIN_SIDE
from wfrun.packs.wanvideo.checks import FRAME_INPUTS
from wfrun.graph.model import LinkRef, NodeInstance, WorkflowGraph

MAX_SIDE = 16 * 4
SIZE_MULTIPLE = 16
MAX_FRAMES = 9
MAX_STEPS = 2
#: Nodes that run an upscale model on an IMAGE input (``RuntimeCaps._small_upscale_input``).
UPSCALE_MODEL_NODES = frozenset({"ImageUpscaleWithModel", "ImageUpscaleWithModelBatched", "CRT_UpscaleModelAdv"})
#: Nodes that refuse images outside a side range (ComfyUI-Upscaler-Tensorrt's engines take
#: 256..1280 px): images entering them are scaled into it (``RuntimeCaps._side_range_input``).
SIDE_RANGE_NODES = {"UpscalerTensorrt": (256, 1280)}
#: Nodes that write H.264 in 4:2:0 (even sides only), by their VIDEO input: frames of an odd
#: side reaching them lose their last row or column (``RuntimeCaps._even_video_input``).
EVEN_VIDEO_NODES = {"SaveVideo": "video"}
#: Frame-count inputs where 0 means "no limit" (VideoHelperSuite's load cap).
ZERO_MEANS_ALL = frozenset({"frame_load_cap"})
#: Frames per chunk of the chunked long-video samplers (VideoChunkTools), capped like a video.
CHUNK_INPUTS = frozenset({"chunk_frames"})
#: Camera trajectories (AnimateDiff-Evolved's ADE_CameraPose* nodes): one pose per video frame,
#: so capped like the frame counts of the video they steer (Fun-Camera's rays must match it).
POSE_COUNT_INPUTS = frozenset({"frame_length"})
FRAME_COUNT_INPUTS = FRAME_INPUTS | ZERO_MEANS_ALL | CHUNK_INPUTS | POSE_COUNT_INPUTS
STEP_INPUTS = frozenset({"steps"})
#: Schedulers that run a fixed number of steps and refuse any other (the wrapper's distilled
#: ``flowmatch_distill``: 4): a sampler set to one keeps its steps.
FIXED_STEP_SCHEDULERS = frozenset({"flowmatch_distill"})
#: Samplers continuing a video from prefix frames, by the input whose source sizes the video:
#: that node's frame counts get room for a capped prefix and new frames after it.
PREFIX_SAMPLERS = {"WanVideoDiffusionForcingSampler": "image_embeds"}
PREFIXED_MAX_FRAMES = 2 * MAX_FRAMES - 1
#: Nodes whose frame count sizes audio that must last 0.4 s (MultiTalk's loudness measure:
#: 10 frames at 25 fps): capped at PREFIXED_MAX_FRAMES too.
AUDIO_LENGTH_NODES = frozenset({"MultiTalkWav2VecEmbeds"})
#: Nodes that cut sound by time, with the window a smoke run gives them (the stand-in sound,
#: ``media.standins.SECONDS``, lasts 1 s; audio-separation-nodes' AudioCrop reads ``M:SS``).
AUDIO_WINDOWS = {"AudioCrop": {"start_time": "0:00", "end_time": "0:01"}}
STEP_BOUNDARY_INPUTS = ("start_step", "end_step", "start_at_step", "end_at_step", "split_step")
CONTEXT_CAPS = {"context_frames": 5, "context_overlap": 4, "context_stride": 4}
#: FlowEdit's step counts (WanVideoFlowEdit) within the capped steps: of two steps, one edit
#: step and one drift step (the saved counts are made for 25 or more).
FLOWEDIT_STEP_CAPS = {"skip_steps": 0, "drift_steps": MAX_STEPS - 1}
#: Values made for full-size inputs, kept within the small stand-ins: paddings in pixels, and
#: frames skipped or picked from the start of a video or batch (made for the full length).
FULL_SIZE_CAPS = {"extra_padding": 8, "skip_first_images": 2, "skip_first_frames": 2, "start_index": 2,
                  "batch_index": 2, "total_frames": 3 * MAX_FRAMES - 2,  # three 9-frame chunks sharing a frame
                  "replace_frames": 4,
                  # the MultiTalk long-video loop: 9-frame windows sharing 5 frames
                  "frame_window_size": MAX_FRAMES, "motion_frame": 5}  # a clip's edge frames a VACE join redraws, beside its context frames
#: Caps that differ on one node type: Wan 2.2 S2V's framepack window (WanVideoAddS2VEmbeds)
#: must be a multiple of 4 frames, so its window is 8, not the MultiTalk loop's 9.
#: Time-to-Move's step window (WanVideoAddTTMLatents) has no steps of its own to scale with:
#: within the capped steps it holds the reference for the first step only (a window saved as
#: 1..3 of 8 steps would start past a first sampler's one capped step).
CLASS_CAPS = {"WanVideoAddS2VEmbeds": {"frame_window_size": MAX_FRAMES - 1},
              # its loop needs length > motion_frame_count: 9-frame passes sharing 5 frames
              "InfiniteTalkAutoSampler": {"motion_frame_count": 5},
              "WanVideoAddTTMLatents": {"start_step": 0, "end_step": 1},
              # insets made for full-size images (104 px a side) would cross on a 64 px one
              "Image Inset Crop (rgthree)": {"left": 8, "right": 8, "top": 8, "bottom": 8}}
#: Sizes a node type needs beyond its inputs' minimums, kept by the caps: ComfyUI's Wan 2.2 S2V
#: nodes take 16 px, but their motion frames need 64 (the model's 8x8 frame-packer patches).
#: PainterFLF2V's motion step pools the latent by 8 (the pack fails on smaller latents).
CLASS_FLOORS = {"WanSoundImageToVideo": {"width": S2V_MOTION_MIN_SIDE, "height": S2V_MOTION_MIN_SIDE},
                "PainterFLF2V": {"width": PAINTER_FLF2V_MIN_SIDE, "height": PAINTER_FLF2V_MIN_SIDE}}
#: The longest side of the image a node makes (CRT_QuantizeAndCropImage fits its bucket in it;
#: core ResizeImageMaskNode's ``scale longer dimension`` / ``scale shorter dimension`` options,
#: ``resize_type.longer_size``).
LONGEST_SIDE_INPUTS = frozenset({"max_side_length", "longer_size", "shorter_size"})
#: Value types a measured number comes from (see :func:`measured_from_data`).
DATA_TYPES = frozenset({"IMAGE", "LATENT", "MASK", "VIDEO"})
#: How far upstream :func:`measured_from_data` follows a computed number.
MEASURE_DEPTH = 16


@dataclass(frozen=True)
class Slot:
    """Where a capped value lives: an input of a node, or the widget of the constant node feeding it."""

    node: NodeInstance
    input: str
    via: NodeInstance | None = None  # the consumer, when the value sits in a constant node
    low: int = 0  # the smallest value the input (and the constant node) accepts

    @property
    def value(self) -> Any:
        return self.node.inputs.get(self.input)


def capped_pair(width: int, height: int, low: tuple[int, int] = (0, 0)) -> tuple[int, int]:
    """``width`` x ``height`` scaled to fit ``MAX_SIDE``, aspect kept, sides multiples of 16;
    a side is never made smaller than its input's minimum (``low``: Wan's embeds take 64)."""
    if max(width, height) <= MAX_SIDE:
        return width, height
    scale = MAX_SIDE / max(width, height)

    def side(v: int, floor: int) -> int:
        if v <= 0:
            return v  # 0: the node keeps its input's size along this side
        return max(SIZE_MULTIPLE, floor, round(v * scale / SIZE_MULTIPLE) * SIZE_MULTIPLE)

    return side(width, low[0]), side(height, low[1])


def capped_frames(name: str, value: int, limit: int = MAX_FRAMES) -> int:
    if value > limit or (value == 0 and name in ZERO_MEANS_ALL):
        return limit
    return value


def prefixed_video_nodes(graph: WorkflowGraph) -> set[str]:
    """Nodes sizing a video that a sampler continues from prefix frames (``PREFIX_SAMPLERS``)."""
    out = set()
    for node in graph.nodes():
        if node.class_type in AUDIO_LENGTH_NODES:
            out.add(node.id)
        link = node.inputs.get(PREFIX_SAMPLERS.get(node.class_type, ""))
        if isinstance(link, LinkRef):
            out.add(link.node_id)
    return out


def apply_smoke_caps(graph: WorkflowGraph, plan: Plan, keep: Iterable[tuple[str, str]] = ()) -> list[str]:
    """Cap sizes, frames, steps and context windows of the planned nodes; a line per change."""
    keep = set(keep)
    changes: list[str] = []
    done: set[tuple[str, str]] = set()

    def write(slot: Slot, new: int) -> None:
        key = (slot.node.id, slot.input)
        if key in done or key in keep or (slot.via is not None and (slot.via.id, slot.input) in keep):
            return
        done.add(key)
        old = slot.value
        if new == old:
            return  # a value already within the caps stays as saved, even one out of range
        new = max(new, slot.low) if new > 0 else new
        if new == old:
            return
        slot.node.inputs[slot.input] = new
        fed = f", feeds node {slot.via.id} '{slot.via.label}'" if slot.via is not None else ""
        changes.append(f"node {slot.node.id} '{slot.node.label}': {slot.input} = {new!r} (--smoke, was {old!r}{fed})")

    saved = {node_id: {n: slot.value for n, slot in _int_slots(graph, graph.node(node_id)).items()}
             for node_id in plan.order}  # before any cap: a step boundary scales with its node's steps
    prefixed = prefixed_video_nodes(graph)
    for node_id in plan.order:
        node = graph.node(node_id)
        ints = _int_slots(graph, node)
        limit = PREFIXED_MAX_FRAMES if node_id in prefixed else MAX_FRAMES
        fixed_steps = node.inputs.get("scheduler") in FIXED_STEP_SCHEDULERS
        # a box of the node's own (not a size a constant node shares with others, which stays a pair)
        box = node.inputs.get("keep_proportion") is True and all(
            ints[n].via is None for n in ("width", "height") if n in ints)
        for name, new in capped_ints({n: (slot.value, slot.low) for n, slot in ints.items()}, limit,
                                     node.class_type, box).items():
            if not (fixed_steps and name in STEP_INPUTS):
                write(ints[name], new)
        for name, new in capped_step_range(saved[node_id]).items():
            write(ints[name], new)
        for name, new in AUDIO_WINDOWS.get(node.class_type, {}).items():
            old = node.inputs.get(name)
            if (node.id, name) not in keep and isinstance(old, str) and old != new:
                node.inputs[name] = new
                changes.append(f"node {node.id} '{node.label}': {name} = {new!r} (--smoke, was {old!r})")
        prefix = node.inputs.get("filename_prefix")
        if (node.id, "filename_prefix") not in keep and isinstance(prefix, str):
            inside = inside_output(prefix)
            if inside != prefix:
                node.inputs["filename_prefix"] = inside
                changes.append(f"node {node.id} '{node.label}': filename_prefix = {inside!r} (--smoke, was "
                               f"{prefix!r}, outside the output folder)")
    return changes


def inside_output(prefix: str) -> str:
    """A save prefix made on someone else's machine (``/home/them/out/clip``, ``../clip``)
    as a path under the output folder (``home/them/out/clip``), so a smoke run writes
    where it may; a real run refuses such a prefix, as ComfyUI does."""
    parts = PurePosixPath(prefix.replace("\\", "/")).parts
    kept = [p for p in parts if p not in ("/", "..", ".") and not (len(p) == 2 and p[1] == ":")]
    if len(kept) == len(parts):
        return prefix
    return "/".join(kept) or "wfrun"


def capped_step_range(ints: dict[str, Any]) -> dict[str, int]:
    """Step boundaries (the wrapper's ``start_step``/``end_step``, KSamplerAdvanced's
    ``start_at_step``/``end_at_step``) scaled with the capped ``steps``, so two samplers
    splitting 20 steps at 10 split 2 steps at 1 and each still runs a step. A boundary at 0,
    -1 or at/after the last step ("to the end") stays."""
    steps = ints.get("steps")
    if not isinstance(steps, int) or steps <= MAX_STEPS:
        return {}
    out = {}
    for name in STEP_BOUNDARY_INPUTS:
        value = ints.get(name)
        if isinstance(value, int) and 0 < value < steps:
            out[name] = min(MAX_STEPS - 1, max(1, round(value * MAX_STEPS / steps)))
    return out


def capped_ints(ints: dict[str, tuple[int, int]], max_frames: int = MAX_FRAMES,
                class_type: str = "", box: bool = False) -> dict[str, int]:
    """The capped value of each INT input by its name (``{name: (value, minimum)}``): frame
    counts (at most ``max_frames``), steps, context windows, and width/height pairs scaled
    together; a node type's own caps (``CLASS_CAPS``) first. With ``box`` the pair is a box
    an image is fitted into, keeping the image's aspect (``keep_proportion``): each side is
    capped on its own, since the box's aspect does not shape the result (KJNodes'
    LoadAndResizeImage saved with 720x10000, "fit the width", scaled together would be a
    16x64 box, and a 64x48 picture fitted into it 16x12, which ``divisible_by`` 16 makes 16x0)."""
    out: dict[str, int] = {}
    own = CLASS_CAPS.get(class_type, {})
    for name, (value, _) in ints.items():
        if name in own:
            out[name] = min(value, own[name])
        elif name in FRAME_COUNT_INPUTS:
            out[name] = capped_frames(name, value, max_frames)
        elif name in STEP_INPUTS:
            out[name] = min(value, MAX_STEPS)
        elif name in CONTEXT_CAPS:
            out[name] = min(value, CONTEXT_CAPS[name])
        elif name in FLOWEDIT_STEP_CAPS:
            out[name] = min(value, FLOWEDIT_STEP_CAPS[name])
        elif name in FULL_SIZE_CAPS:
            out[name] = min(value, FULL_SIZE_CAPS[name])
        elif name.rpartition(".")[2] in LONGEST_SIDE_INPUTS:
            out[name] = min(value, MAX_SIDE)
    for width_name, height_name in _size_pairs(ints):
        w, h = ints.get(width_name), ints.get(height_name)
        if w is not None and h is not None and box:
            out[width_name], out[height_name] = (min(v, max(MAX_SIDE, low)) for v, low in (w, h))
        elif w is not None and h is not None:
            out[width_name], out[height_name] = capped_pair(w[0], h[0], (w[1], h[1]))
        else:
            name, (value, low) = (width_name, w) if w is not None else (height_name, h)
            out[name] = capped_pair(value, 0, (low, 0))[0]
    multiple = ints.get("multiple_of", (0, 0))[0]
    if isinstance(multiple, int) and multiple > 1:  # a node that rounds sizes down to it (ImageResize+)
        for name in [n for n in out if n.endswith(("width", "height")) and out[n] > 0]:
            out[name] = -(-out[name] // multiple) * multiple  # so the capped size never rounds down to 0
    return out


class RuntimeCaps:
    """The same caps for values computed while the workflow runs — a ``ComfyMathExpression``
    turning a duration into ``a * 16 + 1`` frames, a size rounded by an expression — which no
    cap on a saved value can reach: the resolved inputs are capped just before the node runs
    (``engine.run_plan(adjust_inputs=…)``), with a line per change in ``changes``."""

    def __init__(self, graph: WorkflowGraph, plan: Plan, keep: Iterable[tuple[str, str]] = (),
                 saved_steps: dict[str, int] | None = None):
        keep = set(keep)
        self.changes: list[str] = []
        #: each node's step count before the caps (:func:`saved_step_counts`), for its sigmas
        self.saved_steps = dict(saved_steps or {})
        self.targets: dict[str, dict[str, int]] = {}
        self.prefixed = prefixed_video_nodes(graph)
        for node_id in plan.order:
            node = graph.node(node_id)
            static = _int_slots(graph, node)
            linked = {}
            for spec in node.signature.inputs if node.signature else []:
                value = node.inputs.get(spec.name)
                if spec.type == "INT" and isinstance(value, LinkRef) and spec.name not in static \
                        and (node_id, spec.name) not in keep and not measured_from_data(graph, value):
                    linked[spec.name] = max(int(spec.min) if spec.min is not None and spec.min > 0 else 0,
                                            CLASS_FLOORS.get(node.class_type, {}).get(spec.name, 0))
            for name, value in node.inputs.items():  # a dynamic combo's sizes (``resize_type.width``)
                if "." in name and name.rpartition(".")[2] in ("width", "height") and isinstance(value, LinkRef) \
                        and (node_id, name) not in keep and not measured_from_data(graph, value):
                    linked[name] = 0
            if linked:
                self.targets[node_id] = linked

    def __call__(self, node: NodeInstance, inputs: dict[str, Any]) -> dict[str, Any]:
        if node.class_type in UPSCALE_MODEL_NODES:
            inputs = self._small_upscale_input(node, inputs)
        if node.class_type in SIDE_RANGE_NODES:
            inputs = self._side_range_input(node, inputs, *SIDE_RANGE_NODES[node.class_type])
        if node.class_type in EVEN_VIDEO_NODES:
            inputs = self._even_video_input(node, inputs, EVEN_VIDEO_NODES[node.class_type])
        if node.class_type in HARDWARE_ENCODER_NODES:
            inputs = self._software_encoder(node, inputs)
        inputs = self._small_megapixels(node, inputs)
        linked = self.targets.get(node.id)
        if not linked:
            return self._thin_sigmas(node, inputs, getattr(self, "saved_steps", {}).get(node.id))
        ints = {name: (v, low) for name, low in linked.items()
                if isinstance(v := inputs.get(name), int) and not isinstance(v, bool)}
        # a computed width is capped with its pair's saved height (and the other way round)
        for name, v in inputs.items():
            if name not in ints and isinstance(v, int) and not isinstance(v, bool) and (
                    name.endswith(("width", "height")) or name == "multiple_of"):
                ints[name] = (v, 0)
        out = dict(inputs)
        limit = PREFIXED_MAX_FRAMES if node.id in getattr(self, "prefixed", ()) else MAX_FRAMES
        for name, new in capped_ints(ints, limit, node.class_type).items():
            old = inputs.get(name)
            if name not in linked or new == old:
                continue
            new = max(new, linked[name]) if new > 0 else new
            if new != old:
                out[name] = new
                self.changes.append(f"node {node.id} '{node.label}': {name} = {new!r} (--smoke, computed {old!r})")
        if "steps" in linked:  # a computed step count: its boundaries (saved or computed) scale with it
            raw = {k: v for k, v in inputs.items() if k in STEP_BOUNDARY_INPUTS or k == "steps"}
            for name, new in capped_step_range(raw).items():
                if new != inputs.get(name):
                    out[name] = new
                    self.changes.append(f"node {node.id} '{node.label}': {name} = {new!r} (--smoke, with the "
                                        f"steps, was {inputs.get(name)!r})")
        saved = getattr(self, "saved_steps", {}).get(node.id)
        if "steps" in linked and isinstance(inputs.get("steps"), int):
            saved = inputs["steps"]
        return self._thin_sigmas(node, out, saved)

    def _thin_sigmas(self, node: NodeInstance, inputs: dict[str, Any], saved_steps: int | None) -> dict[str, Any]:
        """A node's explicit ``sigmas`` thinned to its capped ``steps`` (:func:`capped_sigmas`)."""
        sigmas, steps = inputs.get("sigmas"), inputs.get("steps")
        if sigmas is None or not isinstance(steps, int) or isinstance(steps, bool) or not isinstance(saved_steps, int):
            return inputs
        new = capped_sigmas(sigmas, saved_steps, steps)
        if new is sigmas:
            return inputs
        self.changes.append(f"node {node.id} '{node.label}': sigmas = {_sigma_text(new)} (--smoke, with the "
                            f"steps, was {_sigma_text(sigmas)})")
        return {**inputs, "sigmas": new}

    def _small_megapixels(self, node: NodeInstance, inputs: dict[str, Any]) -> dict[str, Any]:
        """A size given as total pixels (``ImageScaleToTotalPixels``' ``megapixels``, saved or
        computed) at most a ``MAX_SIDE`` square's worth, or the node's least: the size
        caps never see it, and the rest of the job inherits the size it makes (a 64 px
        stand-in scaled to 1.1 megapixels made one smoke run take minutes)."""
        value = inputs.get("megapixels")
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return inputs
        spec = next((i for i in node.signature.inputs if i.name == "megapixels"), None) if node.signature else None
        least = float(spec.min) if spec is not None and spec.min is not None else 0.0
        cap = max(least, MAX_SIDE * MAX_SIDE / 1e6)
        if value <= cap:
            return inputs
        self.changes.append(f"node {node.id} '{node.label}': megapixels = {cap!r} (--smoke, was {value!r})")
        return {**inputs, "megapixels": cap}

    def _even_video_input(self, node: NodeInstance, inputs: dict[str, Any], name: str) -> dict[str, Any]:
        """A video of an odd width or height entering an H.264 4:2:0 writer, cut to even sides
        (its last column or row dropped). The caps keep each size they set a multiple of 16,
        but a node that sizes one image by another's aspect (ImageStitch's
        ``match_image_size``: a 480x2976 column beside 832 px frames is 134 px wide, the same
        column of 32x224 beside 64 px frames 9 px) can make an odd side from capped sizes
        where the full-size run makes an even one; the writer refuses odd sides, as ComfyUI's."""
        from dataclasses import replace

        from wfrun.media.video_value import Video

        video = inputs.get(name)
        if not isinstance(video, Video) or not (video.width % 2 or video.height % 2):
            return inputs
        width, height = video.width - video.width % 2, video.height - video.height % 2
        if not (width and height):
            return inputs
        self.changes.append(f"node {node.id} '{node.label}': {name} {video.width}x{video.height} -> "
                            f"{width}x{height} (--smoke, an odd side made from capped sizes; H.264 4:2:0 "
                            "needs even sides)")
        return {**inputs, name: replace(video, images=video.images[:, :height, :width])}

    def _software_encoder(self, node: NodeInstance, inputs: dict[str, Any]) -> dict[str, Any]:
        """A hardware video format (VHS's NVENC) whose encoder does not start here written as
        its software twin (``packs.vhs.formats.software_twin_inputs``): a smoke run proves
        the workflow's nodes run, mostly on machines without NVIDIA's encoder (CI, compute
        GPUs); the encoder is the machine's, not the workflow's. A full run refuses such a
        format before it loads anything (``jobs.run``)."""
        from wfrun.media.video import encoder_problem
        from wfrun.packs.vhs.formats import hardware_format, software_twin_inputs

        video_format = hardware_format(inputs.get("format"))
        if video_format is None or not (problem := encoder_problem(str(video_format.encoder))):
            return inputs
        swapped = software_twin_inputs(inputs)
        if swapped is None:
            return inputs
        out, twin = swapped
        self.changes.append(f"node {node.id} '{node.label}': format = {twin!r} (--smoke, was {inputs['format']!r}: "
                            f"its {video_format.encoder} encoder does not start here: {problem})")
        return out

    def _small_upscale_input(self, node: NodeInstance, inputs: dict[str, Any]) -> dict[str, Any]:
        """Images entering an upscale model at most ``MAX_SIDE`` on their longer side: each
        model multiplies the size (4x is common), and workflows chain two or three of them,
        so uncapped a 64 px stand-in video reaches 4096 px after three. The upscale still
        runs, on the smaller frames."""
        import torch
        import torch.nn.functional as F

        out = dict(inputs)
        for name, value in inputs.items():
            if not (isinstance(value, torch.Tensor) and value.ndim == 4 and value.shape[-1] in (3, 4)):
                continue
            h, w = value.shape[1:3]
            if max(h, w) <= MAX_SIDE:
                continue
            scale = MAX_SIDE / max(h, w)
            size = (max(1, round(h * scale)), max(1, round(w * scale)))
            out[name] = F.interpolate(value.movedim(-1, 1).float(), size=size, mode="bilinear",
                                      antialias=True).movedim(1, -1).clamp(0, 1).to(value.dtype)
            self.changes.append(f"node {node.id} '{node.label}': {name} {w}x{h} -> {size[1]}x{size[0]} "
                                "(--smoke, before the upscale model)")
        return out


    def _side_range_input(self, node: NodeInstance, inputs: dict[str, Any], low: int, high: int) -> dict[str, Any]:
        """Images entering a node that refuses sides outside ``low..high`` scaled into that
        range, keeping their aspect where it fits: the small stand-in frames would be refused
        where the real ones pass."""
        import torch
        import torch.nn.functional as F

        out = dict(inputs)
        for name, value in inputs.items():
            if not (isinstance(value, torch.Tensor) and value.ndim == 4 and value.shape[-1] in (3, 4)):
                continue
            h, w = value.shape[1:3]
            if low <= min(h, w) and max(h, w) <= high:
                continue
            scale = low / min(h, w) if min(h, w) < low else high / max(h, w)
            size = tuple(min(high, max(low, round(side * scale))) for side in (h, w))
            out[name] = F.interpolate(value.movedim(-1, 1).float(), size=size, mode="bilinear",
                                      antialias=True).movedim(1, -1).clamp(0, 1).to(value.dtype)
            self.changes.append(f"node {node.id} '{node.label}': {name} {w}x{h} -> {size[1]}x{size[0]} "
                                f"(--smoke, into the {low}..{high} px the node takes)")
        return out


def saved_step_counts(graph: WorkflowGraph) -> dict[str, int]:
    """Each node's saved whole-number ``steps`` (its own or a constant node's), read before
    the caps so :class:`RuntimeCaps` can thin the explicit sigmas given beside them."""
    out = {}
    for node in graph.nodes():
        slot = _int_slots(graph, node).get("steps")
        if slot is not None and isinstance(slot.value, int):
            out[node.id] = slot.value
    return out


def capped_sigmas(sigmas: Any, saved_steps: int, steps: int) -> Any:
    """Explicit sigmas made for ``saved_steps`` steps, thinned for the ``steps`` the smoke
    cap left, or ``sigmas`` itself where nothing is to thin.

    A sampler given both takes its schedule from the sigmas and refuses a list that does not
    fit its step count (one sigma per step, and the final one where the list ends in it,
    as ComfyUI's do). Leaving the steps uncapped would keep the check but not the speed;
    instead the list keeps its first and last values (full noise, and the final sigma)
    and evenly spaced ones between, the same fractions of the schedule the step
    boundaries are scaled to (:func:`capped_step_range`): Lightning's ``1.0, 0.9375,
    0.8333, 0.625, 0.0`` for 4 steps split at 2 becomes ``1.0, 0.8333, 0.0`` split at 1, so
    each of the two samplers still runs one step from the sigma it ran from before. A list
    that fit neither count before the cap stays, so the sampler's own error still shows."""
    import torch

    if steps >= saved_steps or steps < 1:
        return sigmas
    values = sigmas.flatten().tolist() if isinstance(sigmas, torch.Tensor) else sigmas
    if not isinstance(values, (list, tuple)):
        return sigmas
    extra = len(values) - saved_steps  # 1: the list ends with the final sigma; 0: one per step
    if extra not in (0, 1) or steps + extra < 2:
        return sigmas
    last, target = len(values) - 1, steps + extra
    picks = [round(i * last / (target - 1)) for i in range(target)]
    if isinstance(sigmas, torch.Tensor):
        return sigmas.flatten()[torch.tensor(picks)]
    return type(values)(values[i] for i in picks)


def _sigma_text(sigmas: Any) -> str:
    values = sigmas.flatten().tolist() if hasattr(sigmas, "flatten") else list(sigmas)
    return "[" + ", ".join(f"{float(v):.4g}" for v in values) + "]"


def measured_from_data(graph: WorkflowGraph, link: LinkRef) -> bool:
    """Whether the number ``link`` carries is measured from an image, latent or mask: the
    node making it, or one upstream of it through number-only links (a math node on a
    measured width), reads one of :data:`DATA_TYPES`."""
    seen: set[str] = set()
    todo = [(link.node_id, 0)]
    while todo:
        node_id, depth = todo.pop()
        if node_id in seen or node_id not in graph.graph or depth > MEASURE_DEPTH:
            continue
        seen.add(node_id)
        source = graph.node(node_id)
        types = {spec.name: spec.type for spec in source.signature.inputs} if source.signature else {}
        for name, value in source.inputs.items():
            if not isinstance(value, LinkRef):
                continue
            kind = types.get(name, value.type)
            if kind in DATA_TYPES or value.type in DATA_TYPES:
                return True
            if kind in ("INT", "FLOAT", "NUMBER", "*") or value.type in ("INT", "FLOAT"):
                todo.append((value.node_id, depth + 1))
    return False


def _size_pairs(ints: dict[str, Any]) -> list[tuple[str, str]]:
    """``(…width, …height)`` name pairs among a node's INT inputs (either may be absent)."""
    prefixes = {name[: -len(side)] for name in ints for side in ("width", "height") if name.endswith(side)}
    return [(p + "width", p + "height") for p in sorted(prefixes) if p == "" or p.endswith(("_", "."))]


def _int_slots(graph: WorkflowGraph, node: NodeInstance) -> dict[str, Slot]:
    """Each INT input of ``node`` with a known whole-number value: its own, or a constant node's
    (the inputs of a DynamicCombo's chosen option too, named ``<combo>.<input>``)."""
    out: dict[str, Slot] = {}
    floors = CLASS_FLOORS.get(node.class_type, {})
    for name, spec in _ints_of(node):
        value = node.inputs.get(name)
        low = max(int(spec.min) if spec.min is not None and spec.min > 0 else 0, floors.get(name, 0))
        if isinstance(value, LinkRef):
            source = _constant_source(graph, value)
            if source is not None:
                widget, low_there = source[1], source[2]
                out[name] = Slot(source[0], widget, via=node, low=max(low, low_there))
        elif isinstance(value, int) and not isinstance(value, bool):
            out[name] = Slot(node, name, low=low)
    return out


def _ints_of(node: NodeInstance) -> list[tuple[str, Any]]:
    """(input name, spec) of the node's INT inputs, with those of each DynamicCombo's chosen option."""
    out = []
    for spec in node.signature.inputs if node.signature else []:
        if spec.type == "INT":
            out.append((spec.name, spec))
        elif spec.dynamic:
            chosen = node.inputs.get(spec.name)
            for sub in spec.dynamic.get(chosen, []) if isinstance(chosen, str) else []:
                if sub.type == "INT":
                    out.append((f"{spec.name}.{sub.name}", sub))
    return out


def _constant_source(graph: WorkflowGraph, link: LinkRef) -> tuple[NodeInstance, str, int] | None:
    """The node and widget holding a linked whole number (and the widget's minimum), when the
    source is a constant node."""
    if link.node_id not in graph.graph:
        return None
    source = graph.node(link.node_id)
    signature = source.signature
    if signature is None or len(signature.outputs) != 1 or signature.outputs[0].type != "INT":
        return None
    if any(isinstance(v, LinkRef) for v in source.inputs.values()):
        return None
    widgets = [s for s in signature.inputs if s.is_widget]
    if len(widgets) != 1 or widgets[0].type != "INT":
        return None
    value = source.inputs.get(widgets[0].name)
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    low = widgets[0].min
    return source, widgets[0].name, int(low) if low is not None and low > 0 else 0
