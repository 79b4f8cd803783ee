"""Semantic checks of a built workflow graph: each returns diagnostics, none raises.

The checks read node specs (never hard-coded input lists), so they hold for any pack we
have specs for. Rules of one pack's nodes live in that pack (``wfrun/packs/<pack>/checks.py``)
and reach ``check`` as ``PackChecks``, passed in by the caller: this module never imports a
pack.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable, Iterator

import networkx as nx

from wfrun.diagnostics import Diagnostic, Severity
from wfrun.graph.limits import TRUNCATING_CODES, count_limit
from wfrun.graph.display import DISPLAY_ONLY
from wfrun.graph.model import LinkRef, NodeInstance, WorkflowGraph, id_key
from wfrun.graph.numbers import plain, shown, spec_bound
from wfrun.graph.types import compatible
from wfrun.graph.widgets import value_kind_fits
from wfrun.models.paths import ModelPathError, ModelRoots, find_model
from wfrun.specs.registry import (CORE_PACK, FRONTEND_ONLY, LEGACY_GROUP_HINT, LEGACY_GROUP_NODE,
                                  is_legacy_group_node, probable_pack, similar_nodes)
from wfrun.specs.spec import DYNAMIC_INPUT_PREFIXES, VIEW_INPUT_TYPES, InputSpec

#: File combos that list user files or pack data, not models (LoadImage lists ``input``,
#: VideoHelperSuite its own ``video_formats`` definitions).
NON_MODEL_FOLDERS = frozenset({"input", "output", "temp", "kjnodes_fonts", "video_formats"})
#: Model inputs whose node offers a fixed list of names, downloaded on first use into a
#: models sub-folder: the signature cannot say where the file lives, so this does. wfrun
#: never downloads; the file must already be in that folder.
DOWNLOADED_MODEL_INPUTS = {("DownloadAndLoadDepthAnythingV2Model", "model"): "depthanything",
                           ("RIFE VFI", "ckpt_name"): "rife", ("FILM VFI", "ckpt_name"): "film",
                           ("RIFEInterpolation", "model_name"): "rife",
                           ("DepthAnythingV2Preprocessor", "ckpt_name"): "controlnet_aux",
                           ("DownloadAndLoadSAM2Model", "model"): "sam2",
                           # a file list the pack builds at start-up (options_dynamic in its spec)
                           ("ROCmDiffusionLoader", "unet_name"): "diffusion_models"}
#: Model inputs whose file list (``text_encoders``) names a model of another kind: the
#: folder is searched first, as the node does, and files of this kind are taken from it.
#: ComfyUI-WanVideoStartEndFrames' CLIP loader reads Wan's CLIP vision file from
#: ``text_encoders`` (Kijai's own loader also lists ``clip_vision`` since 2025-03-31).
OTHER_KIND_MODEL_INPUTS = {("LoadWanVideoClipTextEncoder_2frames", "model_name"): "clip_vision"}


def model_folders(node: NodeInstance, spec: InputSpec) -> str | None:
    """The models sub-folder(s) (comma-joined) an input names a file in, or None.

    The folders the pack searches *now* come first: a file saved when the node listed
    ``text_encoders`` only is run by a pack that also looks in ``clip_vision``
    (LoadWanVideoClipTextEncoder, 2025-03-31). The saved signature's folders follow."""
    if not spec.options_from:
        return DOWNLOADED_MODEL_INPUTS.get((node.class_type, spec.name))
    if spec.options_from in NON_MODEL_FOLDERS:
        return None
    newest = next((i.options_from for sig in reversed(node.spec.signatures) for i in sig.inputs
                   if i.name == spec.name and i.options_from), None) if node.spec else None
    folders = [f for group in (OTHER_KIND_MODEL_INPUTS.get((node.class_type, spec.name)), newest, spec.options_from)
               if group for f in group.split(",")]
    return ",".join(dict.fromkeys(f for f in folders if f not in NON_MODEL_FOLDERS)) or None


def find_in_folders(roots: ModelRoots, folders: str, name: str):
    """``find_model`` for a spec's ``options_from``, which may list several folders joined by
    commas (WanVideoModelLoader lists ``unet_gguf,diffusion_models``); the error names all."""
    kinds = [k for k in folders.split(",") if k] or [folders]
    first: ModelPathError | None = None
    for kind in reversed(kinds) if len(kinds) > 1 else kinds:
        try:
            return find_model(roots, kind, name)
        except ModelPathError as err:
            first = first or err
    searched = [str(p) for k in kinds for p in roots.folders(k)]
    if len(kinds) > 1 and searched:
        raise ModelPathError(f"{name!r} not found in {', '.join(searched)}")
    raise first


@dataclass
class CheckOptions:
    models: ModelRoots | None = None


#: A rule across the whole graph, run after every node's own checks.
GraphCheck = Callable[[WorkflowGraph, CheckOptions], Iterable[Diagnostic]]
#: A rule on one node input's constant number: called for each INT or FLOAT input whose
#: value is of the right kind and within the spec's range, after the generic checks of it.
ValueCheck = Callable[[WorkflowGraph, NodeInstance, InputSpec, Any], Iterable[Diagnostic]]


@dataclass(frozen=True)
class PackChecks:
    """The checks the packs register (``wfrun.nodes.checks``), as the caller passes them."""

    graph: tuple[GraphCheck, ...] = ()
    values: tuple[ValueCheck, ...] = ()


def check(graph: WorkflowGraph, options: CheckOptions | None = None,
          pack_checks: PackChecks | None = None) -> list[Diagnostic]:
    """The build's problems (loops among them), then each node's, then cross-node ones;
    only the build's when it stopped reading at a size limit (``TRUNCATING_CODES``).
    Only the generic checks run unless ``pack_checks`` are given."""
    options = options or CheckOptions()
    pack_checks = pack_checks or PackChecks()
    found = list(graph.problems)
    if any(p.code in TRUNCATING_CODES for p in graph.problems):
        return found
    for node in graph.nodes():
        found += list(_node_checks(graph, node, options, pack_checks))
    for rule in pack_checks.graph:
        found += list(rule(graph, options))
    return _demote_unused(graph, found)


def unused_nodes(graph: WorkflowGraph) -> set[str]:
    """Nodes that feed no output node: ComfyUI queues only output nodes and what they
    need, so these never run (and wfrun's plan prunes them too).

    A node without a spec that feeds nothing counts as a possible output (rgthree's
    Display Any, a preview of another pack): wfrun cannot know, so what feeds it stays
    used. So does a node with no outputs at all: it is there to show or save something,
    and its spec may miss an ``OUTPUT_NODE`` it inherits from ComfyUI's SaveImage
    (Essentials' MaskPreview+, KJNodes' ImageAndMaskPreview). A workflow with no output node at all has nothing unused: that it cannot run
    is the planner's error, and every node keeps its own diagnostics."""
    g = graph.graph
    outputs = []
    for node_id in g.nodes:
        node = graph.node(node_id)
        if node.signature is not None and (node.signature.output_node or not node.signature.outputs):
            outputs.append(node_id)
        elif node.spec is None and g.out_degree(node_id) == 0:
            outputs.append(node_id)
    if not any(graph.node(i).spec is not None for i in outputs):
        return set()
    used = set(outputs)
    for node_id in outputs:
        used |= nx.ancestors(g, node_id)
    return {i for i in g.nodes if i not in used}


def _demote_unused(graph: WorkflowGraph, found: list[Diagnostic]) -> list[Diagnostic]:
    """One ``unused-node`` warning per node that never runs; its own errors become
    warnings (still listed: the node may be wired in later), never failing a file."""
    unused = unused_nodes(graph)
    if not unused:
        return found
    out = []
    for d in found:
        if d.node_id in unused and d.severity == Severity.ERROR:
            d = replace(d, severity=Severity.WARNING, message=f"{d.message} (the node feeds no output, so it never runs)")
        out.append(d)
    for node_id in sorted(unused, key=id_key):
        node = graph.node(node_id)
        out.append(node_diagnostic(
            graph, node, "unused-node", Severity.WARNING,
            "the node feeds no output node, so ComfyUI and wfrun never run it",
            hint="connect it to the nodes that should use it, or delete it"))
    return out


def node_diagnostic(graph: WorkflowGraph, node: NodeInstance, code: str, severity: Severity, message: str,
                    **kw: Any) -> Diagnostic:
    """A diagnostic about ``node``: the file, node id, title and type filled in."""
    return Diagnostic(code, severity, message, file=graph.source, node_id=node.id,
                      node_title=node.title, class_type=node.class_type, **kw)


_diag = node_diagnostic


def _node_checks(graph: WorkflowGraph, node: NodeInstance, options: CheckOptions,
                 pack_checks: PackChecks) -> Iterator[Diagnostic]:
    if node.spec is None and node.class_type in DISPLAY_ONLY and graph.graph.out_degree(node.id) == 0:
        # shows its input in the ComfyUI window and feeds nothing: not a problem for the file
        yield _diag(graph, node, "display-only", Severity.WARNING,
                    f"'{node.class_type}' only shows its input in the ComfyUI window; a run skips it",
                    found=node.class_type, hint="nothing to do (remove the node to silence this)")
        return
    if node.spec is None and node.class_type in FRONTEND_ONLY:  # only an API prompt still holds one
        yield _diag(graph, node, "unknown-node", Severity.ERROR,
                    f"'{node.class_type}' is a node of ComfyUI's editor only, which an API prompt cannot hold; "
                    "ComfyUI's server refuses it too", found=node.class_type,
                    hint="export the API prompt again from the UI workflow, or load the UI workflow itself")
        return
    if node.spec is None and is_legacy_group_node(node.class_type):
        yield _diag(graph, node, "unknown-node", Severity.ERROR, LEGACY_GROUP_NODE.format(node.class_type),
                    found=node.class_type, hint=LEGACY_GROUP_HINT)
        return
    if node.spec is None:
        pack = probable_pack(node.class_type, node.properties)
        where = f" (it probably comes from {pack})" if pack else ""
        if pack is not None:  # a pack wfrun knows whole lacks the name: ComfyUI refuses it too
            close = similar_nodes(node.class_type, pack)
            guess = f"? {pack} has no node of this name, so ComfyUI refuses it too; else add "
        else:  # no pack named (an API prompt): only a name very close to one of ComfyUI's own
            close = similar_nodes(node.class_type, CORE_PACK, cutoff=0.8)
            guess = " (one of ComfyUI's own nodes)? Else add "
        yield _diag(graph, node, "unknown-node", Severity.ERROR,
                    f"wfrun has no spec for node type '{node.class_type}'{where}",
                    found=node.class_type,
                    hint=(f"did you mean {' or '.join(repr(n) for n in close)}{guess}" if close else "add ")
                    + "the pack's specs with `wfrun specs extract`, or remove the node")
        return
    yield from _widget_shape(graph, node)
    signature = node.signature
    assert signature is not None
    for spec in signature.inputs:
        if spec.section == "hidden":
            continue
        value = node.inputs.get(spec.name, _MISSING)
        if value is _MISSING:
            if spec.section == "required" and not _is_dynamic(spec) and not _short_binding(node, spec):
                yield _missing(graph, node, spec)
            continue
        if isinstance(value, LinkRef):
            yield from _link_type(graph, node, spec, value)
            continue
        if node.binding is None or node.binding.fit != "mismatch":
            yield from _value_checks(graph, node, spec, value, options, pack_checks)


_MISSING = object()


def _is_dynamic(spec: InputSpec) -> bool:
    """A V3 group of inputs the frontend adds, or a view the frontend draws: neither is a
    missing input when absent."""
    return spec.type.startswith(DYNAMIC_INPUT_PREFIXES) or spec.type in VIEW_INPUT_TYPES


def _short_binding(node: NodeInstance, spec: InputSpec) -> bool:
    """A widget added after the file was saved: the frontend fills in its default."""
    return bool(node.binding is not None and node.binding.fit == "short" and spec.is_widget)


def _missing(graph: WorkflowGraph, node: NodeInstance, spec: InputSpec) -> Diagnostic:
    why = node.cut_inputs.get(spec.name)
    message = f"required input '{spec.name}' ({spec.type}) is not connected"
    if why:
        message += f": its link leads nowhere ({why})"
    return _diag(graph, node, "missing-input", Severity.ERROR, message, input=spec.name,
                 expected=spec.type, hint=f"connect an output of type {spec.type} to '{spec.name}'")


def _widget_shape(graph: WorkflowGraph, node: NodeInstance) -> Iterator[Diagnostic]:
    binding = node.binding
    if binding is None or isinstance(node.saved_widgets, dict) or binding.fit in ("exact", "kinds"):
        return  # "kinds": each wrong value is reported on its own input
    sig = binding.signature
    saved = list(node.saved_widgets or [])
    names = [w.name for w in sig.widgets]
    when = f"{sig.date or 'unknown date'} ({(sig.first_commit or '')[:7]})"
    if binding.fit == "short":
        added = [n for n in names if n not in binding.values]
        if not added:  # only a value the frontend keeps for a button (LoadImage's "upload") is absent
            return
        yield _diag(graph, node, "widget-mismatch", Severity.WARNING,
                    f"saved before input(s) {', '.join(added)} existed; ComfyUI will use their defaults",
                    found=saved, expected=names, hint="run `wfrun migrate` to write the defaults into the file")
        return
    yield _diag(graph, node, "widget-mismatch", Severity.ERROR,
                f"the {len(saved)} saved widget values fit no signature this node ever had; "
                f"they were read with the signature of {when}, so values may be in the wrong inputs",
                found=saved, expected=names,
                hint="run `wfrun migrate` on the file, or re-create the node in ComfyUI")


def _link_type(graph: WorkflowGraph, node: NodeInstance, spec: InputSpec, ref: LinkRef) -> Iterator[Diagnostic]:
    source_type = _source_output_type(graph, ref)
    expected = spec.type
    if spec.type == "COMBO":
        expected = "COMBO"
    if not compatible(source_type, expected):
        source = graph.node(ref.node_id) if ref.node_id in graph.graph else None
        label = f"node {ref.node_id} '{source.label}'" if source else f"node {ref.node_id}"
        yield _diag(graph, node, "type-mismatch", Severity.ERROR,
                    f"input '{spec.name}' gets {source_type} from {label} output {ref.slot}",
                    input=spec.name, found=source_type, expected=spec.type,
                    hint=f"connect an output of type {spec.type}; if the file is older than the "
                    "node pack, `wfrun migrate` may repair it")


def _source_output_type(graph: WorkflowGraph, ref: LinkRef) -> Any:
    if ref.node_id in graph.graph:
        source = graph.node(ref.node_id)
        if source.spec is not None and 0 <= ref.slot < len(source.output_types):
            return source.output_types[ref.slot]
    return ref.type


def _value_checks(graph: WorkflowGraph, node: NodeInstance, spec: InputSpec, value: Any,
                  options: CheckOptions, pack_checks: PackChecks) -> Iterator[Diagnostic]:
    if spec.type not in {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}:
        return  # a socket input holding a constant from a primitive: nothing to check
    if spec.type in ("INT", "FLOAT") and isinstance(value, bool):
        # ComfyUI's validation converts with int()/float(): true is 1, false 0 (then checks
        # the range). Files get these when a frontend shifted widget values between versions.
        number = int(value) if spec.type == "INT" else float(value)
        yield _diag(graph, node, "wrong-value-type", Severity.WARNING,
                    f"'{spec.name}' is {str(value).lower()}, not a number; ComfyUI reads it as {number!r}",
                    input=spec.name, found=value, expected=spec.type,
                    hint=f"set '{spec.name}' to the number meant (run `wfrun migrate` if the node changed "
                         "since the file was saved)")
        value = number
    if spec.type == "STRING" and isinstance(value, (int, float)) and not isinstance(value, bool):
        # ComfyUI's validation converts a STRING input with str(): a number there is its text
        # (OlmDragCrop's frontend stores a timestamp in its drawing_version text widget)
        yield _diag(graph, node, "wrong-value-type", Severity.WARNING,
                    f"'{spec.name}' is the number {value!r}, not text; ComfyUI reads it as {str(value)!r}",
                    input=spec.name, found=value, expected=spec.type)
        return
    if not value_kind_fits(spec, value):
        read_as = _comfy_reads_bool_as(spec, value)
        if read_as is not None and not isinstance(value, str):
            # a number: a widget value shifted in from another widget (MoCha's example keeps
            # [832, false] for force_offload and tiled_vae); ComfyUI runs it as bool(value)
            yield _diag(graph, node, "wrong-value-type", Severity.WARNING,
                        f"'{spec.name}' is the number {value!r}, not true/false; ComfyUI reads it as "
                        f"{str(read_as).lower()}", input=spec.name, found=value, expected=spec.type,
                        hint=f"set '{spec.name}' to true or false (run `wfrun migrate` if the node changed "
                             "since the file was saved)")
            return
        if read_as is not None:
            harmless = read_as == (value.strip().lower() == "true")
            yield _diag(graph, node, "wrong-value-type", Severity.WARNING if harmless else Severity.ERROR,
                        f"'{spec.name}' is the text {value!r}, not true/false; ComfyUI reads it as "
                        f"{str(read_as).lower()}" + ("" if harmless else ", which is probably not what was meant"),
                        input=spec.name, found=value, expected=spec.type,
                        hint="run `wfrun migrate` to write a real boolean")
            return
        if value is None:  # a widget saved empty: ComfyUI's validation refuses it like any wrong type
            choices = f": one of {', '.join(map(str, spec.options[:8]))}" if spec.type == "COMBO" and spec.options else ""
            yield _diag(graph, node, "wrong-value-type", Severity.ERROR,
                        f"'{spec.name}' is empty (saved as null); it should be {_kind_words(spec)}",
                        input=spec.name, found=value, expected=spec.type,
                        hint=f"set '{spec.name}' to a value{choices}")
            return
        yield _diag(graph, node, "wrong-value-type", Severity.ERROR,
                    f"'{spec.name}' should be {_kind_words(spec)}, found {type(value).__name__}",
                    input=spec.name, found=value, expected=spec.type,
                    hint="run `wfrun migrate` if the node changed since the file was saved")
        return
    if spec.type == "COMBO":
        yield from _combo(graph, node, spec, value, options)
    elif spec.type in ("INT", "FLOAT"):
        in_range = list(_range(graph, node, spec, value))
        yield from in_range
        if not in_range:
            yield from _count_limit(graph, node, spec, value)
            for rule in pack_checks.values:
                yield from rule(graph, node, spec, value)


def _comfy_reads_bool_as(spec: InputSpec, value: Any) -> bool | None:
    """ComfyUI converts BOOLEAN inputs with ``bool(value)``: ``""`` is false, any other
    text (``"false"`` too) is true, a number other than 0 true. ``None`` when the value is
    neither text nor a number in a BOOLEAN."""
    if spec.type == "BOOLEAN" and (isinstance(value, str) or
                                   isinstance(value, (int, float)) and not isinstance(value, bool)):
        return bool(value)
    return None


def _kind_words(spec: InputSpec) -> str:
    return {"INT": "a whole number", "FLOAT": "a number", "BOOLEAN": "true or false",
            "STRING": "text", "COMBO": "one of the listed options"}[spec.type]


def _combo(graph: WorkflowGraph, node: NodeInstance, spec: InputSpec, value: Any,
           options: CheckOptions) -> Iterator[Diagnostic]:
    if spec.options_from:
        folders = model_folders(node, spec)
        if options.models is not None and folders and isinstance(value, str):
            if spec.options and value in spec.options:
                return
            try:
                find_in_folders(options.models, folders, value)
            except ModelPathError as err:
                main = folders.split(",")[-1]
                yield _diag(graph, node, "missing-model", Severity.ERROR, str(err), input=spec.name,
                            found=value, expected=f"a file in models/{main}",
                            hint=f"put the file under <models>/{main}/ or pick another")
        return
    if spec.options_dynamic or not spec.options or value in spec.options:
        folder = model_folders(node, spec)
        if folder and options.models is not None and isinstance(value, str):
            try:
                find_in_folders(options.models, folder, value)
            except ModelPathError as err:
                yield _diag(graph, node, "missing-model", Severity.ERROR, str(err), input=spec.name,
                            found=value, expected=f"a file in models/{folder}",
                            hint=f"put the file under <models>/{folder}/ (wfrun never downloads it)")
        return
    close = difflib.get_close_matches(str(value), [str(o) for o in spec.options], n=1, cutoff=0.5)
    hint = f"did you mean {close[0]!r}?" if close else f"pick one of {spec.options}"
    extended = extended_at_run_time(spec)
    if extended:
        yield _diag(graph, node, "combo-value", Severity.WARNING,
                    f"'{spec.name}' is {value!r}, which is not one of the {extended} wfrun knows; "
                    "ComfyUI and other packs add to that list at run time, so it may exist where the "
                    "workflow was made",
                    input=spec.name, found=value, expected=spec.options,
                    hint=f"install the pack that adds {value!r}, or {hint[0].lower() + hint[1:]}")
        return
    yield _diag(graph, node, "combo-value", Severity.ERROR,
                f"'{spec.name}' is {value!r}, which is not one of its options",
                input=spec.name, found=value, expected=spec.options, hint=hint)


#: Options that mark a combo as one of ComfyUI's lists other packs extend when they load
#: (``comfy.samplers.KSampler.SAMPLERS`` / ``SCHEDULERS``: RES4LYF adds ``res_2s``,
#: ``bong_tangent``, ``beta57``, …), or as a list of model files (a pack's downloadable
#: models plus what the folder holds). A value outside such a list cannot be known wrong.
RUN_TIME_LISTS = (
    ("samplers", frozenset({"euler", "euler_ancestral", "dpmpp_2m"})),
    ("schedulers", frozenset({"normal", "karras", "exponential", "simple"})),
)
#: File extensions of model files: a combo listing such names is a file list.
MODEL_FILE_SUFFIXES = (".safetensors", ".gguf", ".ckpt", ".pt", ".pth", ".bin", ".sft")


def extended_at_run_time(spec: InputSpec) -> str | None:
    """What kind of run-time-extended list this combo is ("samplers", …), or None."""
    options = {o for o in spec.options or [] if isinstance(o, str)}
    for what, marks in RUN_TIME_LISTS:
        if marks <= options:
            return what
    if spec.options_from or any(o.lower().endswith(MODEL_FILE_SUFFIXES) for o in options):
        return "model files"
    return None


def _range(graph: WorkflowGraph, node: NodeInstance, spec: InputSpec, value: float) -> Iterator[Diagnostic]:
    if isinstance(value, float) and not math.isfinite(value):
        yield _diag(graph, node, "out-of-range", Severity.ERROR,
                    f"'{spec.name}' is {shown(value)}, which is not a finite number",
                    input=spec.name, found=shown(value), expected="a finite number",
                    hint=f"use a number{_between(spec)}")
        return
    low, high = spec_bound(spec.min, spec.type, upper=False), spec_bound(spec.max, spec.type, upper=True)
    if (low is not None and value < low) or (high is not None and value > high):
        yield _diag(graph, node, "out-of-range", Severity.ERROR,
                    f"'{spec.name}' is {shown(value)}, outside {_fmt(low, '-∞')}..{_fmt(high, '∞')}",
                    input=spec.name, found=plain(value), expected=[plain(low), plain(high)],
                    hint=f"use a value{_between(spec)}")


def _between(spec: InputSpec) -> str:
    low, high = spec_bound(spec.min, spec.type, upper=False), spec_bound(spec.max, spec.type, upper=True)
    if low is None and high is None:
        return ""
    return f" between {_fmt(low, '-∞')} and {_fmt(high, '∞')}"


def _fmt(bound: float | None, unbounded: str) -> str:
    return unbounded if bound is None else shown(bound)


def _count_limit(graph: WorkflowGraph, node: NodeInstance, spec: InputSpec, value: float) -> Iterator[Diagnostic]:
    """Counts a node loops over (steps, frames, batch size) have a ceiling whatever the
    spec says: a spec without a max (the wrapper's ``steps``) would let 10**7 through."""
    limit = count_limit(spec.name)
    if limit is None or spec.type != "INT" or value <= limit:
        return
    yield _diag(graph, node, "value-too-large", Severity.ERROR,
                f"'{spec.name}' is {shown(value)}, above the {limit:,} wfrun runs "
                "(as much as ComfyUI's own sampler and Wan nodes accept)",
                input=spec.name, found=plain(value), expected=f"at most {limit}",
                hint=f"use a '{spec.name}' of at most {limit}")
