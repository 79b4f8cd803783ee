"""Reading and writing workflow files: detect the format, parse, and report errors well.

Errors a user can cause (bad JSON, a field of the wrong shape) become :class:`FormatError`
with the file, a line/column or a JSON path, and what was expected, never a traceback.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from wfrun.atomic import write_bytes
from wfrun.formats import jsontext
from wfrun.formats.attachments import Attachment, worker_images
from wfrun.formats.api import ApiPrompt
from wfrun.formats.errors import FormatError, FormatProblem
from wfrun.formats.kinds import EXPECTED, Kind, describe, detect_kind
from wfrun.formats.source import read_workflow
from wfrun.formats.ui import UIWorkflow

__all__ = ["Document", "FormatError", "FormatProblem", "Kind", "detect_kind", "dumps", "from_data",
           "load", "load_text", "parse_json", "write_atomic"]


@dataclass
class Document:
    """A parsed workflow file and where it came from."""

    kind: Kind
    model: UIWorkflow | ApiPrompt
    source: str = "<memory>"
    #: The output node ids ComfyUI was asked to run, where the file says (a queue entry);
    #: None: every output node, as when a workflow is queued from the UI.
    outputs: tuple[str, ...] | None = None
    #: Files the request carries for ComfyUI's input folder (a worker request's images).
    attachments: tuple[Attachment, ...] = ()

    @property
    def ui(self) -> UIWorkflow:
        assert isinstance(self.model, UIWorkflow)
        return self.model

    @property
    def api(self) -> ApiPrompt:
        assert isinstance(self.model, ApiPrompt)
        return self.model

    def dump(self) -> Any:
        return self.model.dump()


def parse_json(text: str, source: str) -> Any:
    """JSON text to a value, with wfrun's limits (depth, size, finite numbers)."""
    return jsontext.parse(text, source)


def from_data(data: Any, source: str = "<memory>") -> Document:
    """Validate an already-parsed JSON value as a workflow document."""
    kind = detect_kind(data)
    outputs, attachments = None, ()
    if kind is None and (request := worker_request(data, source)) is not None:
        (data, attachments), kind = request, "api"
    if kind is None and (prompt := request_body_prompt(data)) is not None:
        data, kind = prompt, "api"
    if kind is None and (item := queue_item_prompt(data, source)) is not None:
        (data, outputs), kind = item, "api"
    if kind is None:
        raise FormatError(source, [_not_a_workflow(data)])
    try:
        model = UIWorkflow.model_validate(data) if kind == "ui" else ApiPrompt.model_validate(data)
    except ValidationError as err:
        raise FormatError(source, [_problem_from_pydantic(e) for e in err.errors()]) from None
    return Document(kind, model, source, outputs, attachments)


def queue_item_prompt(data: Any, source: str = "<memory>") -> tuple[dict[str, Any], tuple[str, ...] | None] | None:
    """The API prompt of a saved ComfyUI queue entry, and the outputs it asks for, or None.

    ComfyUI keeps each queued prompt as ``[number, prompt_id, prompt, extra_data,
    outputs_to_execute]`` (a sixth element, ``sensitive``, since late 2025); ``GET /queue``
    lists them and ``GET /history`` returns one as each entry's ``prompt``, so scripts save
    that array. ComfyUI runs only the nodes that ``outputs_to_execute`` need, and so does
    wfrun; ``extra_data`` (client id, PNG info) changes nothing a run computes and is
    dropped: such a document dumps as the bare prompt."""
    if not (isinstance(data, list) and 3 <= len(data) <= 6 and isinstance(data[1], str)
            and isinstance(data[0], (int, float)) and not isinstance(data[0], bool) and detect_kind(data[2]) == "api"):
        return None
    prompt = data[2]
    if len(data) < 5:
        return prompt, None
    wanted = data[4]
    if not isinstance(wanted, list) or not all(isinstance(i, (str, int)) and not isinstance(i, bool) for i in wanted):
        raise FormatError(source, [FormatProblem("unknown-format", "a ComfyUI queue entry whose outputs_to_execute "
                                                 f"is {describe(wanted)}, not a list of node ids", "[4]")])
    unknown = [str(i) for i in wanted if str(i) not in prompt]
    if unknown:
        raise FormatError(source, [FormatProblem(
            "unknown-format", "a ComfyUI queue entry asks for output node(s) its prompt does not have: "
            + ", ".join(unknown[:5]), "[4]")])
    return prompt, tuple(dict.fromkeys(str(i) for i in wanted)) or None


def request_body_prompt(data: Any) -> dict[str, Any] | None:
    """The API prompt of a saved ``POST /prompt`` request body, or None.

    Scripts that drive ComfyUI over HTTP often keep the whole body they send:
    ``{"prompt": {...}, "client_id": ..., "extra_data": ...}``, sometimes with notes of their
    own beside it (``_comment``). ComfyUI's server queues such a body: it reads ``prompt``
    and ignores the keys it does not know, so wfrun reads the same prompt. The body's other
    keys (a client id, extra PNG info) change nothing a run computes and are dropped: a
    document read this way dumps as the bare prompt."""
    if not isinstance(data, dict) or "nodes" in data:
        return None
    prompt = data.get("prompt")
    return prompt if detect_kind(prompt) == "api" else None


def worker_request(data: Any, source: str = "<memory>") -> tuple[dict[str, Any], tuple[Attachment, ...]] | None:
    """The API prompt of a saved RunPod worker-comfyui request and the files it carries, or None.

    Serverless ComfyUI workers (runpod-workers/worker-comfyui and the many images built on
    it) take ``{"input": {"workflow": {...}, "images": [...]}}`` and queue ``workflow`` as
    ComfyUI's prompt; scripts keep such requests as their example input. wfrun reads the
    workflow the same way. ``images`` are the base64 files the worker uploads into ComfyUI's
    input folder first (:mod:`wfrun.formats.attachments`): a run reads them as the loaders
    would (``jobs.request_files``); other request keys (a webhook, storage settings) change
    nothing a run computes and are dropped."""
    if not isinstance(data, dict) or "nodes" in data:
        return None
    request = data.get("input")
    if not isinstance(request, dict) or detect_kind(request.get("workflow")) != "api":
        return None
    images = request.get("images")
    return request["workflow"], worker_images(images, source) if images else ()


def _not_a_workflow(data: Any) -> FormatProblem:
    """Why ``data`` is neither format; an API prompt with entries that are not nodes (a
    hand-written ``_meta`` note, say) is named as such, entry by entry: ComfyUI refuses to
    queue it too, and the fix is to remove them."""
    if isinstance(data, dict) and data:
        nodes = [k for k, v in data.items() if isinstance(v, dict) and "class_type" in v]
        others = [k for k in data if k not in nodes]
        if nodes and others:
            shown = ", ".join(repr(k) for k in others[:5]) + (", ..." if len(others) > 5 else "")
            return FormatProblem("unknown-format", f"an API prompt of {len(nodes)} node(s), but {len(others)} of "
                                 f"its entries are not nodes (no 'class_type'): {shown}; ComfyUI refuses to queue "
                                 "such a prompt too: remove those entries", json_path((others[0],)))
    return FormatProblem("unknown-format", f"not a ComfyUI workflow: {EXPECTED}; found {describe(data)} at the top "
                         "level")


def load_text(text: str, source: str = "<memory>") -> Document:
    return from_data(parse_json(text, source), source)


def load(path: str | os.PathLike[str]) -> Document:
    """The workflow of a JSON file, or the one embedded in a PNG/WebP/video (see ``source``)."""
    loaded = read_workflow(path)
    return from_data(loaded.data, loaded.source)


def json_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _problem_from_pydantic(error: dict[str, Any]) -> FormatProblem:
    # Drop pydantic's union-branch labels (e.g. 'list[...]', 'function-after[...]') from paths.
    loc = tuple(p for p in error["loc"] if isinstance(p, int) or not _is_branch_label(p))
    found = error.get("input")
    shown = json.dumps(found)[:60] if _jsonable(found) else type(found).__name__
    return FormatProblem("schema", f"{error['msg']} (found {shown})", json_path(loc))


def _is_branch_label(part: str) -> bool:
    return any(ch in part for ch in "[]()") or part in {"int", "str", "float", "dict", "list"}


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError):
        return False


def dumps(doc: Document | Any) -> str:
    """Serialise like the frontend does (indent 2, UTF-8 kept); never writes NaN/Infinity."""
    return jsontext.dump(doc.dump() if isinstance(doc, Document) else doc)


def write_atomic(path: str | os.PathLike[str], text: str, *, replace: bool = True) -> Path:
    """Write ``text`` (UTF-8) as ``path`` so a crash, a full disk or Ctrl-C never leaves half
    a file: through a synced temporary file in the same folder, renamed into place, and
    removed on any failure (:mod:`wfrun.atomic`).

    Replacing an existing file keeps its mode (and owner where allowed), and a symlink is
    followed: its target is rewritten and the link kept. ``replace=False`` refuses an
    existing name with :class:`FileExistsError` instead; a new file gets the usual mode
    (``0o666`` less the umask)."""
    path = Path(path)
    like = None
    if replace and os.path.lexists(path):
        path = Path(os.path.realpath(path))
        like = path if path.exists() else None
    return write_bytes(path, text.encode("utf-8"), replace=replace, like=like)
