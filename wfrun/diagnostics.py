"""Diagnostics: what is wrong with a workflow, said so that a user can fix it.

Every problem a user can cause is a :class:`Diagnostic` with a stable ``code`` (for CI
filters and tests), a severity, where it is (file, node id and title, input), what was
found, what was expected, and a hint. Checks return these; they never raise.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any, Iterable


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


#: Every code wfrun emits, with a one-line meaning (used by docs and ``--format json``).
CODES: dict[str, str] = {
    "invalid-json": "the file is not valid JSON",
    "too-large": "the file (or the workflow in it) is over wfrun's size limit, so it was not read",
    "too-deep": "the JSON nests arrays or objects deeper than wfrun's limit",
    "bad-number": "a number JSON cannot hold (NaN, Infinity) or that is out of range",
    "no-workflow": "an image or video holds no ComfyUI workflow",
    "bad-media": "an image or video is damaged or truncated, so no workflow could be read from it",
    "schema": "a field does not have the shape of a ComfyUI workflow",
    "unknown-format": "the JSON is neither a UI workflow nor an API prompt",
    "dangling-link": "a link points to a node, slot or link that does not exist",
    "display-only-skipped": "display-only nodes (previews, text displays) wfrun cannot run were left out of the run",
    "output-left-out": "an output whose nodes fail ComfyUI's input checks was left out; the other outputs run, as in ComfyUI",
    "ambiguous-broadcast": "an input matches several Anything Everywhere broadcasts of equal priority, so none feeds it",
    "bad-broadcast": "an Anything Everywhere node broadcasts nothing (a regex that cannot be read)",
    "scalar-widgets-values": "a node saved one value where a list of widget values belongs; ignored, as ComfyUI ignores it",
    "duplicate-link": "a link id is used twice, or two links feed one input",
    "cycle": "links form a loop, so there is no order to run the nodes in",
    "unknown-node": "no node pack wfrun knows defines this node type",
    "type-mismatch": "a link carries a type the input does not accept",
    "missing-input": "a required input has neither a link nor a value",
    "combo-value": "a choice is not one of the options the node offers",
    "out-of-range": "a number is outside the input's min/max",
    "wrong-value-type": "a widget value has the wrong type (text where a number belongs…)",
    "widget-mismatch": "the saved widget values fit no signature this node ever had",
    "frame-count": "a frame count is not 4n+1",
    "size-multiple": "a width or height is not a multiple of 16",
    "missing-model": "a model file named by the workflow is not in the models folder",
    "bad-model-file": "a model file is corrupt, cut short, not safetensors, or a pickle not opted into",
    "wrong-model": "a model file is of another family than the node loads (a VAE given as the transformer…)",
    "missing-input-file": "an image or video a loader node reads is not in the input folder",
    "missing-encoder": "a video format needs a hardware encoder (NVIDIA's NVENC) that does not start on this machine",
    "embeds-mismatch": "image-to-video embeds fed to a text-to-video model, or the reverse",
    "missing-subgraph": "a subgraph instance names a definition the file does not have",
    "bad-link": "a link slot is negative or absurdly large, or an API input is a list but not [node id, slot]",
    "duplicate-node-id": "two nodes of one graph (or of one subgraph definition) share an id",
    "too-many-nodes": "the file, or its subgraphs once expanded, has more nodes than wfrun reads",
    "too-many-links": "the file has more links than wfrun reads",
    "subgraph-too-deep": "subgraphs are nested deeper than wfrun expands",
    "value-too-large": "a count the run loops over (steps, frames, batch size) is above wfrun's limit",
    "unused-node": "a node feeds no output node, so it never runs (its own problems are only warnings)",
    "display-only": "a node wfrun has no spec for that only shows its input in the ComfyUI window and feeds nothing: a run skips it",
    "needs-migration": "a node's saved widget values are in an older layout of the node; `wfrun migrate` fixes it",
}


@dataclass
class Diagnostic:
    code: str
    severity: Severity
    message: str
    file: str = ""
    node_id: str | None = None
    node_title: str | None = None
    class_type: str | None = None
    input: str | None = None
    found: Any = None
    expected: Any = None
    hint: str | None = None
    line: int | None = None
    column: int | None = None
    path: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"unregistered diagnostic code {self.code!r}")

    @property
    def where(self) -> str:
        """``file:line:col`` or ``file`` then ``node 12 'Title' (Type)``, then input."""
        parts = [self.file or "<memory>"]
        if self.line is not None:
            parts[0] += f":{self.line}:{self.column or 0}"
        if self.node_id is not None:
            title = f" '{self.node_title}'" if self.node_title else ""
            kind = f" ({self.class_type})" if self.class_type else ""
            parts.append(f"node {self.node_id}{title}{kind}")
        if self.input:
            parts.append(f"input '{self.input}'")
        if self.path:
            parts.append(f"at {self.path}")
        return ", ".join(parts)

    def text(self) -> str:
        out = f"{self.where}: {self.severity.value}[{self.code}]: {self.message}"
        facts = [f"{label} {_short(value)}" for label, value in
                 (("found", self.found), ("expected", self.expected)) if value is not None]
        if facts:
            out += f" ({'; '.join(facts)})"
        if self.hint:
            out += f"\n    hint: {self.hint}"
        return out

    def github(self) -> str:
        """A GitHub Actions workflow command, so problems show on the pull request."""
        level = {"error": "error", "warning": "warning", "info": "notice"}[self.severity.value]
        loc = f"file={self.file}"
        if self.line is not None:
            loc += f",line={self.line},col={self.column or 0}"
        body = self.text().replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        return f"::{level} {loc},title=wfrun {self.code}::{body}"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["severity"] = self.severity.value
        return {k: v for k, v in data.items() if v not in (None, {}, "")}


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def has_errors(diagnostics: Iterable[Diagnostic], strict: bool = False) -> bool:
    failing = {Severity.ERROR, Severity.WARNING} if strict else {Severity.ERROR}
    return any(d.severity in failing for d in diagnostics)
