"""How a node runs: executors registered by ``class_type``, beside their pack's specs.

An executor is a function ``(ctx, **inputs) -> tuple`` returning the node's outputs in
slot order. Inputs arrive by *name*, exactly as the node's spec declares them (one place
for one fact: the executor does not repeat defaults or ranges; the spec fills defaults).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

ExecutorFn = Callable[..., tuple]


class NodeInputError(ValueError):
    """Raised by an executor for a bad input value; the runner adds the node's identity."""

    def __init__(self, input_name: str, message: str, hint: str | None = None):
        super().__init__(message)
        self.input_name = input_name
        self.hint = hint


_EXECUTORS: dict[str, ExecutorFn] = {}


def executor(*class_types: str) -> Callable[[ExecutorFn], ExecutorFn]:
    """Register a function as the executor of one or more node types."""

    def register(fn: ExecutorFn) -> ExecutorFn:
        for class_type in class_types:
            if class_type in _EXECUTORS and _EXECUTORS[class_type] is not fn:
                raise ValueError(f"two executors for {class_type}")
            _EXECUTORS[class_type] = fn
        return fn

    return register


def registered(class_type: str) -> ExecutorFn | None:
    """The executor registered for ``class_type`` so far (packs register when imported;
    ``wfrun.engine.executors`` imports them all before looking one up)."""
    return _EXECUTORS.get(class_type)


def registered_types() -> list[str]:
    return sorted(_EXECUTORS)


class Progress(Protocol):
    """Where executors report progress (a bar per sampler, a line per node)."""

    def node_started(self, node_id: str, label: str) -> None: ...
    def node_finished(self, node_id: str, label: str, seconds: float, cached: bool) -> None: ...
    def steps(self, total: int, description: str) -> Any: ...
    def chunks(self, total: int, description: str) -> Any: ...  # VAE chunks; apart from sampler steps
    def writing(self, total: int, description: str) -> Any: ...  # optional: frames of a file
    def wrote(self, path: Path) -> None: ...


@dataclass
class ExecContext:
    """What every executor may use: devices, folders, progress, interruption."""

    device: str = "cpu"
    offload_device: str = "cpu"
    output_dir: Path = Path("output")
    input_dir: Path = Path("input")
    models: Any = None
    progress: Progress | None = None
    node_id: str = ""
    node_title: str = ""
    workflow_json: Any = None
    written: list[Path] = field(default_factory=list)
    interrupted: bool = False

    def check_interrupt(self) -> None:
        if self.interrupted:
            raise KeyboardInterrupt
