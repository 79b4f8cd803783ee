"""What the workflow does with a model, for tiny stand-ins whose file name says no task.

Real workflows name their models as their makers like (``low.safetensors``, a merge called
``TastySin-HIGH-v8.1``, ``my_finetune.safetensors``); the stand-in's family then cannot come
from the name (``models.families.task_from_name``), and the loader's default (T2V) fails a
graph that encodes a start image into 36 input channels. Here the family comes from the graph
instead, as a :class:`~wfrun.models.standins.TaskHint` per loader node:

- the *samplers* a loader's model reaches: every node its ``MODEL``/``WANVIDEOMODEL`` output
  flows into, through nodes that pass a model on (LoRAs, patches, switches);
- the *task* from the conditioning nodes upstream of those samplers (``MARKERS``: a
  WanImageToVideo or the wrapper's image-to-video encode → I2V, a VACE encode → VACE, Fun
  control/inpaint → Fun, Wan22ImageToVideoLatent → TI2V-5B), the most specific one winning;
- the *size* (Wan 2.1, 2.2 A14B or 2.2 5B): 5B when a Wan 2.2 VAE (by its name) feeds those
  samplers or the task is 5B's own; A14B when the name says Wan 2.2, A14B or high/low, or when
  two loaders of different files feed one sampler or a sampler chain (the high-noise and
  low-noise experts splitting the steps); else Wan 2.1.

VAE loaders whose name says neither 2.1 nor 2.2 take Wan 2.2's when it feeds a
Wan22ImageToVideoLatent or every transformer in the graph has 48-channel latents.

Only tiny stand-ins use this: a real run loads the files it names, whatever they are.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

import networkx as nx

from wfrun.engine.plan import Plan
from wfrun.graph.model import WorkflowGraph
from wfrun.models.families import task_from_name, transformer_family
from wfrun.graph.check import model_folders
from wfrun.models.paths import VIEW_FOLDERS
from wfrun.models.standins import FOLDER_KINDS, LOADER_KINDS, TaskHint

#: Value types that carry a diffusion model between nodes.
MODEL_TYPES = frozenset({"MODEL", "WANVIDEOMODEL"})
#: Inputs that take a model only to move it off the device (the wrapper's text encoders).
OFFLOAD_INPUTS = frozenset({"model_to_offload"})
#: Wildcard types a switch or "any" node passes a model through.
ANY_TYPES = frozenset({"*", "ANY", "any", "AnyType", "ANYTHING"})

#: Conditioning nodes and the task of the model that samples what they make (a base task:
#: the size comes after). The rank orders them when several feed one sampler: the more
#: specific one wins (a VACE graph may also hold an I2V encode for its reference).
MARKERS: dict[str, tuple[int, str]] = {
    "WanVaceToVideo": (0, "vace"), "WanVideoVACEEncode": (0, "vace"),
    "WanAnimateToVideo": (1, "animate"), "WanVideoAnimateEmbeds": (1, "animate"),
    "WanSoundImageToVideo": (1, "s2v"), "WanSoundImageToVideoExtend": (1, "s2v"),
    "WanFunControlToVideo": (2, "fun-control"), "Wan22FunControlToVideo": (2, "fun-control-22"),
    "WanCameraImageToVideo": (2, "fun-camera"), "WanVideoFunCameraEmbeds": (2, "fun-camera"),
    "WanFunInpaintToVideo": (3, "fun-inp"),
    "Wan22ImageToVideoLatent": (4, "ti2v"),
    "WanImageToVideo": (5, "i2v"), "WanFirstLastFrameToVideo": (5, "i2v"),
    "WanVideoImageToVideoEncode": (5, "i2v"), "WanVideoImageToVideoMultiTalk": (5, "i2v"),
    "WanInfiniteTalkToVideo": (5, "i2v"), "WanTrackToVideo": (5, "i2v"), "WanMoveTrackToVideo": (5, "i2v"),
    "WanFirstMiddleLastFrameToVideo": (5, "i2v"), "WanFirstLastMiddleFrameToVideo": (5, "i2v"),
    "WanImageToVideoSVIPro": (5, "i2v"), "PainterI2V": (5, "i2v"), "PainterI2VforKJ": (5, "i2v"),
    "VantageI2VSingleLooper": (5, "i2v"), "VantageI2VDualLooper": (5, "i2v"),
}

#: Base task → (Wan 2.1 task, Wan 2.2 A14B task, Wan 2.2 5B task); None where no such family.
SIZED: dict[str, tuple[str | None, str | None, str | None]] = {
    "t2v": ("t2v", "t2v-a14b", "ti2v-5b"),
    "i2v": ("i2v", "i2v-a14b", "ti2v-5b"),
    "ti2v": (None, None, "ti2v-5b"),
    "vace": ("vace", None, None),
    "fun-control": ("fun-control", "fun-control-a14b", "fun-control-5b"),
    "fun-control-22": (None, "fun-control-a14b", "fun-control-5b"),
    "fun-inp": ("fun-inp", "fun-inp-a14b", "fun-inp-5b"),
    "fun-camera": ("fun-camera", "fun-camera-a14b", "fun-camera-5b"),
    "animate": (None, "animate-14b", None),
    "s2v": (None, "s2v-14b", None),
}

_WAN22_NAME = re.compile(r"wan[-_. ]?2[-_. ]?2|wan22|a14b")
#: The expert a Wan 2.2 A14B file is, as merges name them: ``high_noise``, ``-HIGH-``, ``low.safetensors``.
_EXPERT_NAME = re.compile(r"(?<![a-z])(high|low)(?![a-z])")
_WAN22_VAE_NAME = re.compile(r"wan[-_. ]?2[-_. ]?2|wan22")
#: A name saying Wan 2.1 (a VAE's version; a transformer's generation when it says no task).
_WAN21_VAE_NAME = re.compile(r"wan[-_. ]?2[-_. ]?1|wan21")


def _file_input(node: Any, what: str) -> tuple[str, str] | None:
    """``(input, file name)`` of a loader's transformer (``what="transformer"``) or VAE file:
    the loader inputs ``models.standins`` knows by node type, else an input listing files of
    a folder that holds such models (``diffusion_models``, ``unet``; ``vae``), as the stand-ins
    themselves are found (KJNodes' DiffusionModelLoaderKJ, calcuis' LoaderGGUF, MultiGPU's)."""
    kinds = ("wan_transformer", "checkpoint", "wan_selected_file") if what == "transformer" else ("wan_vae",)
    for (class_type, input_name), (kind, _) in LOADER_KINDS.items():
        if class_type == node.class_type:
            value = node.inputs.get(input_name)
            if kind in kinds and isinstance(value, str) and value:
                return input_name, value
    if node.signature is None or any(class_type == node.class_type for class_type, _ in LOADER_KINDS):
        return None
    for spec in node.signature.inputs:
        value = node.inputs.get(spec.name)
        listed = [f for f in (model_folders(node, spec) or "").split(",") if f] if isinstance(value, str) else []
        if listed and value and FOLDER_KINDS.get(VIEW_FOLDERS.get(listed[-1], listed[-1]), ("", ""))[0] in kinds:
            return spec.name, value
    return None


def _output_type(graph: WorkflowGraph, source: str, data: dict) -> Any:
    if data.get("type") is not None:
        return data["type"]
    types = graph.node(source).output_types
    slot = data.get("slot", 0)
    return types[slot] if isinstance(slot, int) and 0 <= slot < len(types) else None


def _carries_model(value: Any) -> bool:
    names = value.split(",") if isinstance(value, str) else []
    return any(n.strip() in MODEL_TYPES or n.strip() in ANY_TYPES for n in names)


def samplers_of(graph: WorkflowGraph, loader: str) -> set[str]:
    """The nodes the loader's model reaches that make something else of it (samplers, their
    settings bundles, loopers): its model edges followed through every node that passes a
    model on."""
    g = graph.graph
    seen, found, todo = {loader}, set(), [loader]
    while todo:
        current = todo.pop()
        passed_on = False
        for _, target, data in g.out_edges(current, data=True):
            if data.get("input") in OFFLOAD_INPUTS:
                continue  # a text encoder told to offload the model does not use it
            out_type = _output_type(graph, current, data)
            if current == loader and not (isinstance(out_type, str) and out_type in MODEL_TYPES):
                continue  # a checkpoint's CLIP and VAE outputs are not its model
            if current != loader and not _carries_model(out_type):
                continue
            passed_on = True
            if target not in seen:
                seen.add(target)
                todo.append(target)
        if current == loader:
            continue
        if not passed_on or graph.node(current).class_type in MARKERS:
            found.add(current)  # a sampler, its settings bundle, or a looper that samples
    return found


#: Values that do not carry a sampler's conditioning or latents: the walk back from a
#: sampler stops at them (a first frame decoded from another model's sampler is an image,
#: so that sampler's conditioning says nothing of this model's task).
NOT_CONDITIONING = frozenset({"IMAGE", "MASK", "AUDIO", "VIDEO", "INT", "FLOAT", "STRING", "BOOLEAN", "MODEL",
                              "WANVIDEOMODEL", "VAE", "WANVAE", "CLIP", "WANTEXTENCODER", "CLIP_VISION",
                              "UPSCALE_MODEL"})


def feeding(graph: WorkflowGraph, sampler: str) -> set[str]:
    """The sampler and the nodes whose conditioning, latents or embeds flow into it. Another
    sampler met on the way (a node taking a model: the high-noise expert whose latent the
    low-noise one goes on with) is included but not walked past: what feeds *it* is its own
    model's business (a Wan video's latent refined by an image model says nothing of the
    image model's task)."""
    seen, todo = {sampler}, [sampler]
    while todo:
        current = todo.pop()
        if current != sampler and _takes_model(graph, current):
            continue
        for source, _, data in graph.graph.in_edges(current, data=True):
            kind = _output_type(graph, source, data)
            if source not in seen and not (isinstance(kind, str) and kind in NOT_CONDITIONING):
                seen.add(source)
                todo.append(source)
    return seen


def _takes_model(graph: WorkflowGraph, node_id: str) -> bool:
    """Whether a model flows into the node (types may be lists: a combo output's options)."""
    kinds = (_output_type(graph, source, data) for source, _, data in graph.graph.in_edges(node_id, data=True))
    return any(isinstance(kind, str) and kind in MODEL_TYPES for kind in kinds)


class _Feeding:
    """:func:`feeding` per sampler, walked once for one graph."""

    def __init__(self, graph: WorkflowGraph):
        self.graph, self.memo = graph, {}

    def __call__(self, sampler: str) -> set[str]:
        if sampler not in self.memo:
            self.memo[sampler] = feeding(self.graph, sampler)
        return self.memo[sampler]


def _marker(graph: WorkflowGraph, samplers: Iterable[str], fed: _Feeding) -> tuple[str, str] | None:
    """``(base task, node id)`` of the most specific conditioning node feeding the samplers."""
    best = None
    for sampler in samplers:
        for node_id in fed(sampler):
            entry = MARKERS.get(graph.node(node_id).class_type)
            if entry is not None:
                key = (entry[0], node_id)
                if best is None or key < best[0]:
                    best = (key, entry[1], node_id)
    return (best[1], best[2]) if best else None


def _wan22_vae_upstream(graph: WorkflowGraph, samplers: Iterable[str], fed: _Feeding) -> str | None:
    """A VAE loader whose name says Wan 2.2 (48-channel latents) feeding a node that makes
    the samplers' conditioning or latents (an encode, an empty latent of that VAE)."""
    for sampler in samplers:
        for node_id in sorted(fed(sampler)):
            for source in sorted(graph.graph.predecessors(node_id)):
                found = _file_input(graph.node(source), "vae")
                if found and _WAN22_VAE_NAME.search(found[1].lower()):
                    return source
    return None


def _describe(graph: WorkflowGraph, node_id: str) -> str:
    node = graph.node(node_id)
    label = f" '{node.label}'" if node.label != node.class_type else ""
    return f"node {node_id} {node.class_type}{label}"


def transformer_hints(graph: WorkflowGraph, plan: Plan) -> dict[str, TaskHint]:
    """A hint per planned transformer (or Wan checkpoint) loader whose file name says no
    task and whose model reaches a sampler; keyed by node id."""
    loaders: dict[str, tuple[str, set[str]]] = {}
    for node_id in plan.order:
        found = _file_input(graph.node(node_id), "transformer")
        if found:
            loaders[node_id] = (found[1], samplers_of(graph, node_id))
    hints, fed = {}, _Feeding(graph)
    for node_id, (name, samplers) in loaders.items():
        if task_from_name(name) is not None or not samplers:
            continue
        lowered = name.replace("\\", "/").lower()
        marker = _marker(graph, samplers, fed)
        if marker is not None and marker[0] == "vace" and _linked_module(graph.node(node_id)):
            marker = None  # the wrapper lays a separate VACE module over a T2V model
        base, reasons = "t2v", []
        if marker is not None:
            base, reasons = marker[0], [f"its sampler takes what {_describe(graph, marker[1])} makes"]
        if marker is None and graph.node(node_id).class_type == "CheckpointLoaderSimple" and "wan" not in lowered:
            continue  # nothing says it is a Wan checkpoint at all
        wan21, a14b, five_b = SIZED[base]
        vae = _wan22_vae_upstream(graph, samplers, fed)
        partner = _expert_partner(loaders, node_id, fed)
        task = None
        if wan21 is not None and _WAN21_VAE_NAME.search(lowered):
            task = wan21  # the name says Wan 2.1, only not the task
        elif five_b and (base == "ti2v" or vae is not None or re.search(r"(?<![\d.])5b", lowered)):
            task = five_b
            if base != "ti2v":
                why = "the name says 5B" if vae is None else f"the Wan 2.2 VAE of {_describe(graph, vae)}"
                reasons.append(f"Wan 2.2 5B: {why}")
        elif a14b and (wan21 is None or _WAN22_NAME.search(lowered) or _EXPERT_NAME.search(lowered) or partner):
            task = a14b
            if wan21 is not None:
                why = (f"the name says {'Wan 2.2' if _WAN22_NAME.search(lowered) else 'high/low'}"
                       if _WAN22_NAME.search(lowered) or _EXPERT_NAME.search(lowered)
                       else f"its samplers split the steps with {_describe(graph, partner)}'s model")
                reasons.append(f"a Wan 2.2 A14B expert: {why}")
        elif wan21 is not None:
            task = wan21
        if task is None:
            continue
        if marker is None and task == "t2v":
            continue  # nothing to say beyond the loader's default
        reason = "; ".join(reasons) if reasons else "no image, VACE or Fun conditioning feeds its samplers"
        hints[node_id] = TaskHint("transformer", task, reason)
    return hints


def _linked_module(node: Any) -> bool:
    """Whether a wrapper model loader takes a separate VACE (or other extra) module."""
    from wfrun.graph.model import LinkRef

    return any(isinstance(node.inputs.get(name), LinkRef) for name in ("vace_model", "extra_model"))


def _expert_partner(loaders: dict[str, tuple[str, set[str]]], node_id: str, fed: _Feeding) -> str | None:
    """Another loader, of another file, whose samplers share or chain with this one's (the
    high-noise expert's latent going on to the low-noise one's sampler, both taking the same
    prompt; or one sampler taking both models): the pair of Wan 2.2 A14B experts. A chain
    whose samplers take different prompts is two models' stages (an image model refining a
    video frame), not a pair of experts."""
    name, mine = loaders[node_id]
    for other, (other_name, theirs) in loaders.items():
        if other == node_id or other_name == name or not theirs:
            continue
        for a in mine:
            for b in theirs:
                if a == b or (a in fed(b) or b in fed(a)) and (fed(a) - {a, b}) & (fed(b) - {a, b}):
                    return other
    return None


def vae_hints(graph: WorkflowGraph, plan: Plan, transformers: dict[str, TaskHint]) -> dict[str, TaskHint]:
    """A hint per planned VAE loader whose name says neither Wan 2.1 nor 2.2: Wan 2.2's when
    it feeds a Wan22ImageToVideoLatent or every transformer of the graph is a 5B one."""
    families = {}
    for node_id in plan.order:
        found = _file_input(graph.node(node_id), "transformer")
        if found:
            task = task_from_name(found[1]) or (transformers[node_id].task if node_id in transformers else None)
            family = transformer_family(task) if task else None
            if family is not None:
                families[node_id] = family
    hints = {}
    for node_id in plan.order:
        found = _file_input(graph.node(node_id), "vae")
        if not found or _WAN22_VAE_NAME.search(found[1].lower()) or _WAN21_VAE_NAME.search(found[1].lower()):
            continue
        latent = next((t for t in sorted(nx.descendants(graph.graph, node_id))
                       if graph.node(t).class_type == "Wan22ImageToVideoLatent"), None)
        if latent is not None:
            hints[node_id] = TaskHint("vae", "wan2.2", f"it feeds {_describe(graph, latent)}")
        elif families and all(f.vae == "wan2.2" for f in families.values()):
            loader, family = next(iter(families.items()))
            hints[node_id] = TaskHint("vae", "wan2.2", f"the transformer of {_describe(graph, loader)} is "
                                                       f"{family.label}")
    return hints


def standin_hints(graph: WorkflowGraph, plan: Plan) -> dict[tuple[str, str], TaskHint]:
    """Every hint of the planned loaders, keyed by ``(node id, "transformer" | "vae")``."""
    transformers = transformer_hints(graph, plan)
    hints = {(node_id, "transformer"): hint for node_id, hint in transformers.items()}
    hints.update({(node_id, "vae"): hint for node_id, hint in vae_hints(graph, plan, transformers).items()})
    return hints
