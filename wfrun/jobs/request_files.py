"""A worker request's files, where the run's loaders read them.

RunPod's worker-comfyui uploads a request's ``input.images`` into ComfyUI's input folder
(overwriting files of the same name) and then queues the workflow, so a loader naming
``start.png`` reads the request's picture. wfrun gives the run the same files without
touching the user's input folder: each attachment a planned loader names (plainly or with
``[input]``) is written into the run's temp folder and the loader pointed at it, in memory,
as --smoke's stand-ins are. Nothing of the user's is overwritten, and the request's file
wins over one of the same name in the input folder, as it does on the worker.
"""

from __future__ import annotations

from pathlib import Path

from wfrun.atomic import write_bytes
from wfrun.engine.executors import planned_input_files
from wfrun.engine.plan import Plan
from wfrun.formats.attachments import Attachment
from wfrun.graph.model import WorkflowGraph
from wfrun.media.image import MediaPathError, resolve_inside, split_annotation

#: Where the request's files go, inside the run's temp folder (``<output>/temp``).
REQUEST_DIR = "request-inputs"


class RequestFileError(OSError):
    """A request's file could not be written into the temp folder (disk full, no permission)."""


def place_request_files(graph: WorkflowGraph, plan: Plan, attachments: tuple[Attachment, ...], output_dir: Path,
                        write: bool = True) -> tuple[list[str], set[tuple[str, str]]]:
    """Point every planned loader that names one of ``attachments`` at its copy in the temp
    folder; a line per loader, and the ``(node id, input)`` pairs served. With ``write``
    false (a dry run) nothing is written or changed: the lines say what would be."""
    if not attachments:
        return [], set()
    by_name = {a.name: a for a in attachments}
    folder = Path(output_dir) / "temp" / REQUEST_DIR
    lines: list[str] = []
    served: set[tuple[str, str]] = set()
    written: dict[str, Path] = {}
    for node, input_name, name, _ in list(planned_input_files(graph, plan)):
        if not isinstance(name, str):
            continue
        plain, tag = split_annotation(name)
        attachment = by_name.get(plain.replace("\\", "/")) if tag in (None, "input") else None
        if attachment is None:
            continue
        served.add((node.id, input_name))
        if not write:
            lines.append(f"node {node.id} '{node.label}' {input_name} {name!r}: the request's file "
                         f"({len(attachment.data)} bytes) would be read, from {folder / attachment.name}")
            continue
        if attachment.name not in written:
            written[attachment.name] = _write(folder, attachment)
        node.inputs[input_name] = f"{REQUEST_DIR}/{attachment.name} [temp]"
        lines.append(f"node {node.id} '{node.label}' {input_name} {name!r}: the request's file "
                     f"({len(attachment.data)} bytes), {written[attachment.name]}")
    return lines, served


def _write(folder: Path, attachment: Attachment) -> Path:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        target = resolve_inside(folder, attachment.name, "request file")
        target.parent.mkdir(parents=True, exist_ok=True)
        return write_bytes(target, attachment.data, replace=True)
    except (OSError, MediaPathError) as err:
        raise RequestFileError(f"cannot write the request's file {attachment.name!r} into {folder}: {err}") from None
