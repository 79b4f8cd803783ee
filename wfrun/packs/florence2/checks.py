"""``wfrun validate`` / ``wfrun run`` checks for ComfyUI-Florence2: a Florence-2 loader whose
model folder is not in any ``LLM`` models folder is reported before anything loads (the
generic model check looks for files, and these loaders name folders)."""

from __future__ import annotations

from typing import Iterator

from wfrun.diagnostics import Diagnostic, Severity
from wfrun.graph.check import CheckOptions, node_diagnostic
from wfrun.graph.model import WorkflowGraph
from wfrun.models.florence2 import FOLDER, find_florence2_folder, folder_name
from wfrun.models.paths import ModelPathError
from wfrun.nodes.checks import graph_check

#: The loaders and whether their ``model`` is a repository id (else a folder name).
LOADERS = {"DownloadAndLoadFlorence2Model": True, "Florence2ModelLoader": False}


@graph_check
def florence2_folder_missing(graph: WorkflowGraph, options: CheckOptions) -> Iterator[Diagnostic]:
    if options.models is None:
        return
    for node in graph.nodes():
        repo_id = LOADERS.get(node.class_type)
        model = node.inputs.get("model")
        if repo_id is None or not isinstance(model, str) or not model:
            continue
        try:
            find_florence2_folder(options.models, model, repo_id=repo_id)
        except ModelPathError as err:
            try:
                name = folder_name(model) if repo_id else model
            except ModelPathError:
                name = model
            yield node_diagnostic(
                graph, node, "missing-model", Severity.ERROR, str(err), input="model", found=model,
                expected=f"a Florence-2 folder in models/{FOLDER}",
                hint=(f"wfrun never downloads: put the Hugging Face repository {model} in <models>/{FOLDER}/{name}"
                      if repo_id else f"put the model's folder in <models>/{FOLDER}/"))
