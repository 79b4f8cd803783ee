"""One ``wfrun run``: read, migrate in memory, apply overrides, check, plan, then execute.

Everything that can be found wrong is found before a single weight is loaded: JSON and
schema problems, node API breaks (migrated in memory, and said so), graph errors, bad
``--set`` values, missing model files, model files that their loader would refuse (corrupt
or cut-short headers, pickles without ``--allow-pickle``, a file of the wrong family: only
headers are read), and every node type wfrun cannot run (listed all at once). Only then
does the runner start. ``--dry-run`` stops there and reports the plan, the model files
(with what each is) and an estimate of memory.
"""

from __future__ import annotations

import json
import os
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx

import wfrun
from wfrun.diagnostics import Diagnostic, Severity
from wfrun.engine.overrides import Override, OverrideError, apply_overrides, overridden_inputs
from wfrun.engine.plan import Plan, PlanError, make_plan
from wfrun.engine.run import NodeError, OutputCache, RunResult, run_plan
from wfrun.jobs.encoders import encoder_problems
from wfrun.jobs.smoke import RuntimeCaps, apply_smoke_caps, saved_step_counts
from wfrun.jobs.request_files import RequestFileError, place_request_files
from wfrun.jobs.standins import StandinWriteError, stand_in_inputs, tiny_model_roots
from wfrun.long_lived import freeze_once
from wfrun.formats.document import Document, FormatError, from_data
from wfrun.formats.source import read_workflow
from wfrun.graph import CheckOptions, WorkflowGraph, build, check
from wfrun.graph.check import find_in_folders, model_folders
from wfrun.media.image import MediaPathError, find_input_file, input_file_hint
from wfrun.models.detect import KIND_LABELS, WrongModelError
from wfrun.models.header import CheckpointError
from wfrun.models.paths import ModelPathError, ModelRoots
from wfrun.models.preflight import check_model_file, expected_kinds
from wfrun.models.reader import PTH_SUFFIXES, PickleRefused, pickle_files_allowed
from wfrun.nodes.executor import ExecContext
from wfrun.engine.executors import executor_info, pack_checks, planned_input_files
from wfrun.specs.registry import (FRONTEND_ONLY, LEGACY_GROUP_HINT, LEGACY_GROUP_NODE, Registry, default_registry,
                                  is_legacy_group_node, probable_pack)

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


class JobError(Exception):
    """The workflow cannot run as given; ``diagnostics`` say why (exit code 1 or 2)."""

    def __init__(self, message: str, diagnostics: list[Diagnostic] | None = None, exit_code: int = EXIT_PROBLEMS):
        super().__init__(message)
        self.message = message
        self.diagnostics = diagnostics or []
        self.exit_code = exit_code

    def __str__(self) -> str:
        """The message and each problem, so a caller of the Python API sees what the CLI prints."""
        return "\n".join([super().__str__()] + [d.text() for d in self.diagnostics])


@dataclass
class RunOptions:
    models_dir: str | None = None
    tiny_models: bool = False
    output_dir: Path = Path("output")
    input_dir: Path | None = None
    overrides: list[str] = field(default_factory=list)
    seed: int | None = None
    device: str | None = None
    offload_device: str = "cpu"
    dry_run: bool = False
    allow_pickle: bool = False  # read .ckpt/.pt files (weights only); also WFRUN_ALLOW_PICKLE=1
    #: Tiny models, stand-in inputs and small sizes, frames and steps (jobs/smoke.py).
    smoke: bool = False
    #: ``--fast``: fp8 x fp8 matmuls in the transformer blocks and compiled blocks (models/fast.py).
    fast: bool = False
    #: with ``fast``: the blocks' self-attention in fp8 as well (``--no-fp8-attention`` keeps
    #: PyTorch's attention: less error, a slower forward; models/fp8_attention.py).
    fp8_attention: bool = True
    #: ``--gpu-memory``: GiB of the GPU wfrun may use (models.residency), None: the whole card.
    gpu_memory_gib: float | None = None
    #: ``--compile``: compile the transformer's blocks when it pays (auto), always (on) or never
    #: (off); the workflow's own compile nodes apply either way (models/compile.py).
    compile: str = "auto"

    @property
    def tiny(self) -> bool:
        """Whether tiny models stand in for every model file (``--tiny-models``, ``--smoke``)."""
        return self.tiny_models or self.smoke


@dataclass
class ModelFile:
    node_id: str
    node_label: str
    input: str
    name: str
    path: Path
    bytes: int
    kind: str | None = None  # the family the header shows (wfrun.models.detect), where wfrun knows it
    detected: str | None = None  # the same in words, with variant, layout and storage dtype


@dataclass
class Prepared:
    path: Path
    data: Any
    graph: WorkflowGraph
    plan: Plan
    roots: ModelRoots
    migrated: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)
    models: list[ModelFile] = field(default_factory=list)
    #: What stands in for missing models and inputs (``--tiny-models``, ``--smoke``).
    standins: list[str] = field(default_factory=list)
    #: Loaders that read a file the request carries (a worker request's images).
    request_files: list[str] = field(default_factory=list)
    #: ``--smoke`` caps for values other nodes compute; its ``changes`` fill while running.
    runtime_caps: RuntimeCaps | None = None
    #: Seconds from wfrun's import to the end of :func:`prepare` (imports, parsing, checks).
    prepared_at: float = 0.0


@dataclass
class JobReport:
    prepared: Prepared
    result: RunResult | None = None
    seconds: float = 0.0
    device: str = "cpu"
    step_seconds: list[list[float]] = field(default_factory=list)
    peak_gpu_bytes: int | None = None
    #: Seconds from wfrun's import to the first node (the device set up in between).
    executing_at: float = 0.0

    def to_json(self) -> dict[str, Any]:
        p = self.prepared
        out: dict[str, Any] = {
            "file": str(p.path), "device": self.device, "migrated": p.migrated,
            "overrides": p.changes + (p.runtime_caps.changes if p.runtime_caps else []),
            "standins": p.standins,
            "request_files": p.request_files,
            "warnings": [d.to_json() for d in p.warnings],
            "plan": {"order": [{"id": i, "type": p.graph.node(i).class_type, "title": p.graph.node(i).label}
                               for i in p.plan.order],
                     "outputs": p.plan.outputs, "pruned": p.plan.pruned, "untaken": p.plan.untaken},
            "models": [{"node": m.node_id, "input": m.input, "name": m.name, "path": str(m.path), "bytes": m.bytes,
                        "kind": m.kind, "detected": m.detected} for m in p.models],
            "estimate": memory_estimate(p),
        }
        if self.result is not None:
            out.update(written=[str(w) for w in self.result.written], executed=self.result.executed,
                       cached=self.result.cached, skipped=self.result.skipped, interrupted=self.result.interrupted,
                       seconds=round(self.seconds, 3),
                       timeline={"prepared": round(p.prepared_at, 3), "executing": round(self.executing_at, 3),
                                 "reported": round(since_start(), 3)},
                       node_seconds={k: round(v, 3) for k, v in self.result.seconds.items()},
                       node_started={k: round(v - wfrun.STARTED, 3) for k, v in self.result.started.items()},
                       step_seconds=[[round(x, 4) for x in bar] for bar in self.step_seconds],
                       peak_gpu_gib=None if self.peak_gpu_bytes is None else round(self.peak_gpu_bytes / 2**30, 3))
        return out


def model_roots(options: RunOptions) -> ModelRoots:
    """The models folders of this run; a broken extra_model_paths.yaml is a usage error (exit 2).
    With tiny models, wfrun's own (see ``tiny_model_roots`` for the stand-ins of the files a
    workflow names)."""
    if options.tiny:
        from wfrun.models.tiny import ensure_tiny_models

        folder: str | Path | None = ensure_tiny_models()
    else:
        folder = options.models_dir
        if folder is not None and not Path(folder).is_dir():
            raise JobError(f"--models {folder}: no such folder", exit_code=EXIT_USAGE)
    try:
        return ModelRoots.from_options(folder)
    except ModelPathError as err:
        raise JobError(str(err), exit_code=EXIT_USAGE) from None


def migrate_in_memory(document: Document, registry: Registry) -> tuple[Document, list[str]]:
    """Repair node API breaks in memory, as ``wfrun run`` does (the file is not touched)."""
    document, lines, _ = _migrate(document, registry)
    return document, lines


def _migrate(document: Document, registry: Registry) -> tuple[Document, list[str], dict[tuple[str, str], str]]:
    """Repair node API breaks in memory (the file is not touched). Also returns, by
    ``(subgraph definition id or "", node id)``, the date of the signature each migrated node was saved with
    (the executors follow that version where the pack changed behaviour, see
    ``NodeInstance.saved_date``)."""
    try:
        from wfrun.migrate import migrate_document
    except ImportError:
        return document, [], {}
    result = migrate_document(document, registry=registry)
    if not getattr(result, "changed", False):
        return document, [], {}
    lines = [str(line) for line in getattr(result, "summary_lines", lambda: [])()] or ["migrated"]
    saved = {(n.scope or "", str(n.id)): n.saved_date for n in result.nodes if n.changed and n.saved_date}
    return result.document, lines, saved


def _definition_of(document: Document, source_path: tuple[str, ...]) -> str | None:
    """The subgraph definition a node of the expanded graph comes from ("" for the top level),
    found by following its instance path (``("12", "5")``: node 5 inside the instance 12)."""
    if document.kind != "ui":
        return "" if len(source_path) == 1 else None
    workflow = document.model
    definitions = {sg.id: sg for sg in workflow.subgraphs}
    nodes, scope = workflow.nodes, ""
    for part in source_path[:-1]:
        holder = next((n for n in nodes if str(n.id) == part), None)
        if holder is None or holder.type not in definitions:
            return None
        scope = holder.type
        nodes = definitions[scope].nodes
    return scope


def prepare(path: str | Path, options: RunOptions, registry: Registry | None = None) -> Prepared:
    """Everything short of loading weights; raises JobError listing what is wrong."""
    from wfrun.jobs.validate import schema_problems

    path = Path(path)
    registry = registry or default_registry()
    try:
        data = read_workflow(path).data  # the shared reader: JSON, or embedded in an image or video
        problems = schema_problems(data, str(path))
        if problems:
            raise JobError(f"{path}: the file does not match the workflow schema", problems)
        document = from_data(data, str(path))
    except FormatError as err:
        raise JobError(str(err)) from None
    except OSError as err:
        raise JobError(f"cannot read {path}: {err.strerror or err}", exit_code=EXIT_USAGE) from None
    attachments = document.attachments  # the request's files: kept whatever migration returns
    document, migrated, saved_dates = _migrate(document, registry)
    graph = build(document, registry)
    if saved_dates:  # nodes inside subgraphs too: every instance of a definition was saved alike
        for node in graph.nodes():
            where = node.source_path or (node.id,)
            key = (_definition_of(document, where), where[-1])
            if key in saved_dates:
                node.saved_date = saved_dates[key]
    try:
        overrides = [Override.parse(s) for s in options.overrides]
        changes = apply_overrides(graph, overrides, options.seed)
    except OverrideError as err:
        raise JobError(str(err), exit_code=EXIT_USAGE) from None
    check_output_folder(Path(options.output_dir))
    roots = None if options.tiny else model_roots(options)
    plan = _plan(path, graph, document.outputs)  # after the overrides: a --set boolean picks a lazy switch's branch
    standins: list[str] = []
    standin_problems: list[Diagnostic] = []
    runtime_caps = None
    if options.smoke:  # say what cannot run before writing or loading anything
        _refuse_unsupported(path, graph, plan)
        kept = overridden_inputs(graph, overrides)
        saved_steps = saved_step_counts(graph)
        changes += apply_smoke_caps(graph, plan, kept)
        if plan.chosen or plan.untaken:  # a capped constant may decide a lazy choice: plan again
            before = set(plan.order)
            plan = _plan(path, graph, document.outputs)
            if not set(plan.order) <= before:  # a branch taken now was not capped yet
                changes += apply_smoke_caps(graph, plan, kept)
        runtime_caps = RuntimeCaps(graph, plan, kept, saved_steps)
    if options.tiny:
        roots, standins, standin_problems = _tiny_roots(graph, plan, path, options.allow_pickle)
    try:  # before the stand-ins: a loader the request serves needs none
        request_files, stood_in = place_request_files(graph, plan, attachments, Path(options.output_dir),
                                                      write=not options.dry_run)
    except RequestFileError as err:
        raise JobError(str(err), exit_code=EXIT_USAGE) from None
    if options.smoke:
        try:
            lines, served = stand_in_inputs(graph, plan, input_dir_for(path, options), Path(options.output_dir),
                                            write=not options.dry_run)
        except StandinWriteError as err:
            raise JobError(str(err), exit_code=EXIT_USAGE) from None
        standins += lines
        stood_in |= served
    needed = set(plan.order)
    no_standin = {(d.node_id, d.input) for d in standin_problems}
    diagnostics = [d for d in check(graph, CheckOptions(models=roots), pack_checks())
                   if (d.node_id is None or d.node_id in needed)
                   and not (d.code == "missing-model" and (d.node_id, d.input) in no_standin)]
    diagnostics += standin_problems
    diagnostics += [d for d in _input_file_problems(graph, plan, options, path) if (d.node_id, d.input) not in stood_in]
    if not options.smoke:  # a smoke run writes the software twin (RuntimeCaps)
        diagnostics += encoder_problems(graph, plan, path)
    models, model_problems = _model_files(graph, plan, roots, path, options.allow_pickle)
    diagnostics += model_problems
    errors = [d for d in diagnostics if d.severity == Severity.ERROR]
    # a model wfrun has no tiny stand-in for is wfrun's limit, not the file's: never a reason to leave one out
    stand_in_missing = any(d in standin_problems for d in errors)
    kept, left_out = outputs_that_pass(graph, plan, errors) if not stand_in_missing else (plan.outputs, {})
    if left_out:  # as ComfyUI: the outputs that pass its input checks run, the others are named
        skipped = plan.skipped
        plan = _plan(path, graph, tuple(kept))
        plan.skipped = skipped
        needed = set(plan.order)
        diagnostics = [d for d in diagnostics if d.node_id is None or d.node_id in needed] + [
            _left_out_notice(path, graph, output, why) for output, why in left_out.items()]
        models, _ = _model_files(graph, plan, roots, path, options.allow_pickle)
        errors = [d for d in diagnostics if d.severity == Severity.ERROR]
    if errors:
        raise JobError(f"{path}: {len(errors)} problem(s) must be fixed before running", errors)
    _refuse_unsupported(path, graph, plan)
    notices = [_skipped_notice(path, graph, plan)] if plan.skipped else []
    return Prepared(path, data, graph, plan, roots, migrated, changes,
                    notices + [d for d in diagnostics if d.severity != Severity.ERROR], models, standins=standins,
                    request_files=request_files, runtime_caps=runtime_caps, prepared_at=since_start())


def _plan(path: Path, graph: WorkflowGraph, outputs: tuple[str, ...] | None = None) -> Plan:
    """The plan for every output node, or for the ones the file asks for (a queue entry)."""
    try:
        return make_plan(graph, list(outputs) if outputs else None)
    except PlanError as err:
        raise JobError(f"{path}: {err}", err.diagnostics) from None


def since_start() -> float:
    """Seconds since wfrun was imported: a run's report places its phases on this clock."""
    return time.perf_counter() - wfrun.STARTED


def check_output_folder(folder: Path) -> None:
    """Find an output folder the run could not write before any weight loads, not after
    the whole run: the folder, or the nearest folder above it that exists, must be a folder
    in which a file can be created (one is, and removed at once).

    Nothing is created here, so ``--dry-run`` and callers that only prepare leave no empty
    folder behind; :func:`execute` creates it before the first node runs."""
    text = str(folder)
    hint = "\n  hint: choose a folder you can write to with -o/--output"
    if "\0" in text:
        raise JobError(f"output folder {text!r} contains a NUL byte{hint}", exit_code=EXIT_USAGE)
    probe_in = folder
    try:
        while not os.path.lexists(probe_in) and probe_in.parent != probe_in:
            probe_in = probe_in.parent
        if not probe_in.is_dir():
            raise JobError(f"cannot write outputs to {folder}: {probe_in} is a file, not a folder{hint}",
                           exit_code=EXIT_USAGE)
        fd, probe = tempfile.mkstemp(prefix=".wfrun-probe-", dir=probe_in)
        try:
            os.close(fd)
        finally:
            os.unlink(probe)
    except OSError as err:
        raise JobError(f"cannot write outputs to {folder}: {err.strerror} ({err.filename or probe_in}){hint}",
                       exit_code=EXIT_USAGE) from None


def _make_output_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise JobError(f"cannot create the output folder {folder}: {err.strerror} ({err.filename or folder})"
                       "\n  hint: choose a folder you can write to with -o/--output", exit_code=EXIT_USAGE) from None


def _refuse_unsupported(path: Path, graph: WorkflowGraph, plan: Plan) -> None:
    """One error listing every planned node wfrun cannot run (none is loaded first)."""
    if not plan.unsupported:
        return
    lines = "\n".join(f"  node {i} '{graph.node(i).label}' ({graph.node(i).class_type}, {_pack_of(graph.node(i))})"
                      + (": a partner API node, run by a paid cloud service" if _is_cloud_node(graph.node(i)) else "")
                      + (f": {MODELS_MISSING[graph.node(i).class_type]}" if graph.node(i).class_type in MODELS_MISSING
                         else "")
                      + (f": {NETWORK_NODES[graph.node(i).class_type]}" if graph.node(i).class_type in NETWORK_NODES
                         else "")
                      + (f": {NOT_IN_CORE}" if _claims_core_unknown(graph.node(i)) else "")
                      + (f": {EDITOR_ONLY}" if graph.node(i).class_type in FRONTEND_ONLY else "")
                      + (f": {LEGACY_GROUP_NODE.format(graph.node(i).class_type)}; {LEGACY_GROUP_HINT}"
                         if is_legacy_group_node(graph.node(i).class_type) else "")
                      for i in plan.unsupported)
    cloud = any(_is_cloud_node(graph.node(i)) for i in plan.unsupported)
    network = sorted({graph.node(i).class_type for i in plan.unsupported} & NETWORK_NODES.keys())
    raise JobError(f"{path}: wfrun cannot run {len(plan.unsupported)} node(s) of this workflow yet "
                   f"(nothing was loaded):\n{lines}\n  hint: bypass or remove them in ComfyUI if the "
                   "output does not need them"
                   + ("; partner API nodes send the job to their company's servers through a Comfy.org "
                      "account, and wfrun only runs models on this machine" if cloud else "")
                   + (f"; {', '.join(network)} call(s) a network API, and wfrun never sends a workflow's data "
                      "over the network: replace such a node's text output with a text node (e.g. a "
                      "PrimitiveStringMultiline holding the text it gave you) and link that instead"
                      if network else ""))


#: Said beside an editor-only node (Reroute, PrimitiveNode, ...) met in an API prompt: a UI
#: workflow resolves them while building the graph, so only a damaged export still holds one.
EDITOR_ONLY = ("a node of ComfyUI's editor only, which an API prompt cannot hold (ComfyUI's server refuses it "
               "too): export the API prompt again from the UI workflow, or load the UI workflow itself")

#: Node types that belong to a model wfrun does not have (said beside them when a run is refused).
MODELS_MISSING = {
    name: "part of Wan-Dancer (ComfyUI's WanDancerModel: music features injected into a Wan 2.2 14B model), "
          "which wfrun does not have yet"
    for name in ("WanDancerEncodeAudio", "WanDancerVideo")} | {
    "RTXVideoSuperResolution": "NVIDIA's RTX Video Super Resolution (comfyui_nvidia_rtx_nodes), which runs NVIDIA's "
                               "closed RTX Video SDK on an RTX GPU; wfrun has no such model"} | {
    name: "part of flow2-wan-video's all-in-one pipeline (its loader fetches the text encoder, CLIP vision and VAE "
          "from Hugging Face at run time, and the pack patches ComfyUI's Wan model for image conditioning), which "
          "wfrun does not have"
    for name in ("WanVideoModelLoader_F2", "WanVideoConfigure_F2", "WanVideoModelPatcher_F2", "WanVideoSampler_F2",
                 "WanVideoEnhancer_F2")} | {
    name: "part of WeChatCV's Stand-In preprocessor, which finds faces with an Ultralytics YOLOv8 model (a pickled "
          ".pt it downloads at run time) and parses them with facexlib's BiSeNet; wfrun has neither model"
    for name in ("FaceProcessorLoader", "ApplyFaceProcessor", "VideoFramePreprocessor", "VideoInputPreprocessor",
                 "VideoBackgroundRestorer")}

#: Custom nodes that send their inputs to a vendor's service over the network (said beside
#: them when a run is refused): wfrun runs nothing off this machine.
NETWORK_NODES = {
    "IFGeminiNode": "calls Google's Gemini API over the network (if-ai/ComfyUI-IF_Gemini), which wfrun never does",
    "OpenRouterNode": "sends its prompt (and any images) to the OpenRouter API over the network, which wfrun never "
                      "does",
    **{name: "sends its inputs to an Ollama server's HTTP API to run a language model (stavsap/comfyui-ollama), "
             "which wfrun never does"
       for name in ("OllamaGenerate", "OllamaGenerateAdvance", "OllamaVision", "OllamaConnectivityV2",
                    "OllamaGenerateV2", "OllamaOptionsV2", "OllamaLoadContext", "OllamaSaveContext")},
}

#: Said beside a node saved as ComfyUI core's (``cnr_id`` comfy-core) whose name no core node
#: has: ComfyUI refuses such a file as a missing node type too; tool-written files invent them.
NOT_IN_CORE = ("the file says it is a ComfyUI core node, but ComfyUI's core (read at 0a92ed1, 2026-06-23) has no "
               "node of this name; ComfyUI itself reports it as a missing node type")


def _claims_core_unknown(node: Any) -> bool:
    return node.spec is None and str((node.properties or {}).get("cnr_id") or "") == "comfy-core"

#: Categories of ComfyUI's partner (API) nodes: ``partner/...`` today, ``api node/...`` before.
CLOUD_CATEGORIES = ("partner/", "api node/")


def _is_cloud_node(node: Any) -> bool:
    """A ComfyUI partner API node (``comfy_api_nodes``): the work happens on a vendor's
    servers, so no executor can ever run it here; the user should know it is not a gap
    that a later wfrun will fill."""
    category = getattr(node.spec, "category", None) or ""
    return category.lower().startswith(CLOUD_CATEGORIES)


#: What ComfyUI's own check of a prompt finds in a node's inputs (``validate_inputs``: a required
#: input not connected, a link of another type, a value outside its list, range or type, a
#: model file that is not there): an output whose nodes have one of these is left out and the
#: other outputs run (``execution.validate_prompt``'s good outputs). Any other problem (an
#: unknown node type, a file wfrun cannot read) stops the whole run, as it does there.
OUTPUT_LEVEL_PROBLEMS = frozenset({"missing-input", "type-mismatch", "combo-value", "missing-model", "out-of-range",
                                   "wrong-value-type"})


def outputs_that_pass(graph: WorkflowGraph, plan: Plan,
                      errors: list[Diagnostic]) -> tuple[list[str], dict[str, Diagnostic]]:
    """(the plan's outputs none of whose nodes has one of ``errors``, each output left out →
    the first error among its nodes). Nothing is left out where an error is of another kind or
    names no node, or where no output would be left to run: the run is then refused as a
    whole, naming every problem."""
    if not errors or any(d.code not in OUTPUT_LEVEL_PROBLEMS or d.node_id is None for d in errors):
        return list(plan.outputs), {}
    planned = set(plan.order)
    kept, left_out = [], {}
    for output in plan.outputs:
        nodes = ({output} | nx.ancestors(graph.graph, output)) & planned
        first = next((d for d in errors if d.node_id in nodes), None)
        if first is None:
            kept.append(output)
        else:
            left_out[output] = first
    if not kept:
        return list(plan.outputs), {}
    return kept, left_out


def _left_out_notice(path: Path, graph: WorkflowGraph, output: str, why: Diagnostic) -> Diagnostic:
    node = graph.node(output)
    if why.node_id == output:
        where = f"its input '{why.input}'" if why.input else "its inputs"
    else:
        source = graph.node(why.node_id)
        where = f"node {why.node_id} '{source.label}' ({source.class_type})" + (
            f", input '{why.input}'" if why.input else "")
    return Diagnostic("output-left-out", Severity.WARNING,
                      f"output node {output} '{node.label}' ({node.class_type}) is left out of this run, as ComfyUI "
                      f"leaves out an output that fails its input checks: {where}: {why.message}",
                      file=str(path), node_id=output, node_title=node.label, class_type=node.class_type,
                      hint=why.hint or "fix that input to get this output too")


def _skipped_notice(path: Path, graph: WorkflowGraph, plan: Plan) -> Diagnostic:
    """One line naming the display-only nodes left out (engine.plan.DISPLAY_ONLY)."""
    shown = ", ".join(f"{i} '{graph.node(i).label}' ({graph.node(i).class_type})" for i in plan.skipped)
    return Diagnostic("display-only-skipped", Severity.INFO,
                      f"skipped {len(plan.skipped)} display-only node(s) with nothing to save: {shown}",
                      file=str(path), found=plan.skipped)


def _pack_of(node: Any) -> str:
    """The node's pack for people: its spec's, else the one its properties or name suggest."""
    name = pack_name(node)
    return f"pack {name}" if name is not None else "unknown pack"


def pack_name(node: Any) -> str | None:
    """The node's pack: its spec's, else a guess from its properties or name, marked with ``?``."""
    if node.spec is not None:
        return node.spec.pack
    guess = probable_pack(node.class_type, node.properties)
    return f"{guess}?" if guess else None


def _tiny_roots(graph: WorkflowGraph, plan: Plan, path: Path,
                allow_pickle: bool = False) -> tuple[ModelRoots, list[str], list[Diagnostic]]:
    """wfrun's tiny models, and a tiny stand-in for every other model file the plan names
    (pickle-named ones too where the run may read pickles: ``--allow-pickle``)."""
    from wfrun.models.reader import pickle_allowed

    try:
        return tiny_model_roots(graph, plan, str(path), allow_pickle=allow_pickle or pickle_allowed())
    except StandinWriteError as err:
        raise JobError(str(err), exit_code=EXIT_USAGE) from None


def input_dir_for(path: Path, options: RunOptions) -> Path:
    """Where loader nodes read images and videos: --input, else ``input/`` beside the workflow."""
    return Path(options.input_dir) if options.input_dir else Path(path).parent / "input"


def _input_file_problems(graph: WorkflowGraph, plan: Plan, options: RunOptions, path: Path) -> list[Diagnostic]:
    """Images and videos the run will read, found (or not) before any model loads: a missing
    start frame should not cost the minute a 14B model takes to load. Each loader executor
    says which files its inputs name (``input_files``)."""
    from wfrun.media.image_folder import resolve_folder

    input_dir = input_dir_for(path, options)
    output_dir = Path(options.output_dir)
    problems = []
    for node, input_name, name, what in planned_input_files(graph, plan):
        if not isinstance(name, str):
            continue  # linked, or not text: the executor says so
        try:
            if what == "image_folder":  # a folder of images (Inspire's and VHS's folder loaders)
                resolve_folder(name, input_dir, output_dir, output_dir / "temp")
            else:
                find_input_file(name, input_dir, output_dir, output_dir / "temp", what)
        except MediaPathError as err:
            problems.append(Diagnostic(
                "missing-input-file", Severity.ERROR, str(err), file=str(path), node_id=node.id,
                node_title=node.title, class_type=node.class_type, input=input_name, found=name,
                expected=f"a {what} in {input_dir.resolve()}",
                hint=input_file_hint(what, input_dir)))
    return problems


def _model_files(graph: WorkflowGraph, plan: Plan, roots: ModelRoots, path: Path,
                 allow_pickle: bool) -> tuple[list[ModelFile], list[Diagnostic]]:
    """Every model file the run will load, each checked as its loader will check it (header,
    format, family: ``models.preflight``), with a diagnostic for each that would fail. Files
    that cannot be found are left to ``check`` (``missing-model``)."""
    files: list[ModelFile] = []
    problems: list[Diagnostic] = []
    for node_id in plan.order:
        node = graph.node(node_id)
        for spec in node.signature.inputs if node.signature else []:
            value = node.inputs.get(spec.name)
            folders = model_folders(node, spec)
            if not folders or not isinstance(value, str):
                continue
            try:
                found = find_in_folders(roots, folders, value)
                size = found.stat().st_size
            except (ModelPathError, OSError):
                continue
            loader = executor_info(node.class_type, node.spec)
            gguf = loader is not None and spec.name in loader.gguf_inputs
            pth = loader is not None and spec.name in loader.pth_inputs and found.suffix.lower() in PTH_SUFFIXES
            try:
                info = check_model_file(found, folders, allow_pickle=True if allow_pickle or pth else None, gguf=gguf,
                                        torchscript=loader is not None and spec.name in loader.torchscript_inputs)
            except CheckpointError as err:
                problems.append(_model_problem(path, node, spec.name, value, folders, err, gguf))
                continue
            known = info.kind != "unknown"
            files.append(ModelFile(node_id, node.label, spec.name, value, found, size,
                                   info.kind if known else None, info.describe() if known else None))
    return files, problems


def _model_problem(path: Path, node: Any, input_name: str, value: str, folders: str,
                   err: CheckpointError, gguf: bool = False) -> Diagnostic:
    wanted = " or ".join(KIND_LABELS[k] for k in sorted(expected_kinds(folders))) or f"a model file for {folders}"
    if isinstance(err, WrongModelError):
        code, hint = "wrong-model", "pick the right file for this input (the file itself may be fine)"
    elif isinstance(err, PickleRefused):
        code, wanted = "bad-model-file", f"a .safetensors file: {wanted}"
        hint = "use the model's .safetensors version, or rerun with --allow-pickle if you trust this file"
    else:
        code, wanted = "bad-model-file", f"a complete, valid {'GGUF or ' if gguf else ''}.safetensors file: {wanted}"
        hint = "replace the file: download it again"
    return Diagnostic(code, Severity.ERROR, str(err), file=str(path), node_id=node.id, node_title=node.title,
                      class_type=node.class_type, input=input_name, found=value, expected=wanted, hint=hint)


def memory_estimate(p: Prepared) -> dict[str, Any]:
    """Weights as stored (what wfrun keeps in memory: fp8 stays fp8) and the sampler's tokens,
    from the node that sets the video's size: the wrapper's ``num_frames`` or the core Wan
    nodes' ``length`` beside ``width`` and ``height``."""
    weights = sum(m.bytes for m in p.models)
    tokens, linked = 0, False
    for node_id in p.plan.order:
        inputs = p.graph.node(node_id).inputs
        w, h = inputs.get("width"), inputs.get("height")
        n = inputs.get("num_frames", inputs.get("length") if w is not None and h is not None else None)
        if all(isinstance(v, int) for v in (w, h, n)):
            # latent sides (size // 8) padded to whole 2x2 patches, as ComfyUI's Wan model pads them
            tokens = max(tokens, ((n - 1) // 4 + 1) * -(-(h // 8) // 2) * -(-(w // 8) // 2))
        elif n is not None:  # a size or count that another node computes at run time
            linked = True
    # None: only known once the nodes that compute the size have run
    return {"weights_bytes": weights, "weights_gib": round(weights / 2**30, 3),
            "max_tokens": None if linked and not tokens else tokens}


def execute(p: Prepared, options: RunOptions, progress: Any = None, cache: OutputCache | None = None) -> JobReport:
    import torch

    from wfrun.models import residency
    from wfrun.models.compile import compile_policy

    device = options.device or ("cuda" if torch.cuda.is_available() else "cpu")
    _make_output_folder(Path(options.output_dir))
    input_dir = input_dir_for(p.path, options)
    ctx = ExecContext(device=device, offload_device=options.offload_device, output_dir=Path(options.output_dir),
                      input_dir=Path(input_dir), models=p.roots, progress=progress, workflow_json=p.data,
                      fast=options.fast, fp8_attention=options.fast and options.fp8_attention)
    # None: a handler set outside Python; restoring the default one is the nearest thing
    previous = signal.getsignal(signal.SIGINT) or signal.default_int_handler

    def stop(signum: int, frame: Any) -> None:  # first Ctrl-C: stop between steps (and frames)
        ctx.interrupted = True
        signal.signal(signal.SIGINT, previous)

    try:
        signal.signal(signal.SIGINT, stop)
    except ValueError:  # not the main thread
        pass
    cuda = torch.device(device).type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    bars_before = len(getattr(progress, "step_seconds", []))  # a progress shared by the runs of --seeds
    freeze_once("job start")  # the first job's: imports and specs only, no model yet (long_lived)
    executing_at = since_start()
    start = time.perf_counter()
    try:
        budget = None if options.gpu_memory_gib is None else int(options.gpu_memory_gib * 2**30)
        with torch.inference_mode(), pickle_files_allowed(options.allow_pickle), residency.gpu_budget(budget), \
                compile_policy(options.compile):
            result = run_plan(p.graph, p.plan, ctx, cache, adjust_inputs=p.runtime_caps,
                              background=loads_can_overlap(p, device))
    except NodeError as err:
        raise JobError(str(err)) from None
    finally:
        try:
            signal.signal(signal.SIGINT, previous)
        except ValueError:
            pass
    return JobReport(p, result, time.perf_counter() - start, device,
                     [list(bar) for bar in getattr(progress, "step_seconds", [])[bars_before:]],
                     torch.cuda.max_memory_allocated() if cuda else None, executing_at)


#: Loaders run ahead of their turn only while the model files they put on the GPU, together,
#: take at most this share of the GPU's free memory: then a loader placing its model on the
#: GPU while another node works there cannot crowd it out.
OVERLAP_SHARE = 0.5

#: Loader choices (``load_device``, ``device``) that put a model on the GPU as it loads; other
#: loaders load into host memory (ComfyUI's default: a model comes to the GPU when a node needs
#: it), which running ahead cannot crowd.
GPU_AT_LOAD = frozenset({"main_device", "gpu", "cuda"})


def gpu_bytes_at_load(p: Prepared) -> int:
    """Bytes of the job's model files whose loaders put them on the GPU as they load."""
    total = 0
    for model in p.models:
        inputs = p.graph.node(model.node_id).inputs
        if any(isinstance(inputs.get(k), str) and inputs[k] in GPU_AT_LOAD for k in ("load_device", "device")):
            total += model.bytes
    return total


def loads_can_overlap(p: Prepared, device: str) -> bool:
    """Whether the job's model loaders may run in the background (``engine.run_plan``): on a
    CUDA device with room for every model its loaders put on the GPU at once. On the CPU
    reading and computing share the same cores, so nothing would be gained.
    ``WFRUN_BACKGROUND_LOADS=0`` turns it off (to measure what it saves:
    bench/i2v_endframe_14b.py --variants saved,serial)."""
    import torch

    from wfrun.models import residency

    if torch.device(device).type != "cuda" or not torch.cuda.is_available():
        return False
    if os.environ.get("WFRUN_BACKGROUND_LOADS") == "0":
        return False
    free, _total = residency.free_memory(device)
    return gpu_bytes_at_load(p) <= OVERLAP_SHARE * free


def run_file(path: str | Path, options: RunOptions, progress: Any = None,
             cache: OutputCache | None = None) -> JobReport:
    prepared = prepare(path, options)
    if options.dry_run:
        return JobReport(prepared, None, 0.0, options.device or "auto")
    return execute(prepared, options, progress, cache)


def dumps_report(report: JobReport) -> str:
    return json.dumps(report.to_json(), indent=2, default=str)
