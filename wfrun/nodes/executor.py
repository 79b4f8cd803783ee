"""How a node runs: executors registered by ``class_type``, beside their pack's specs.

An executor is a function ``(ctx, **inputs) -> tuple`` returning the node's outputs in
slot order. Inputs arrive by *name*, exactly as the node's spec declares them (one place
for one fact: the executor does not repeat defaults or ranges; the spec fills defaults).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol

ExecutorFn = Callable[..., tuple]


class NodeInputError(ValueError):
    """Raised by an executor for a bad input value; the runner adds the node's identity."""

    def __init__(self, input_name: str, message: str, hint: str | None = None):
        super().__init__(message)
        self.input_name = input_name
        self.hint = hint


#: What an executor reads from its inputs before running: ``{input name: (file name or
#: None, kind)}`` for the files its inputs name (``kind`` as ``wfrun.media`` knows them:
#: "image", "video"), so a missing file is found before any model loads.
InputFiles = Callable[[dict[str, Any]], dict[str, tuple[Any, str]]]


@dataclass(frozen=True)
class ExecutorInfo:
    """An executor and what the engine and jobs may know about it without running it.

    ``volatile``: never served from the output cache (it reads a file that may change
    between runs). ``oom_hint``: the advice given when it runs out of memory.
    ``input_files``: which files its inputs name (see ``InputFiles``). ``gguf_inputs``: the
    model inputs whose GGUF files it loads (the run's model check reads those as GGUF; any
    other input's GGUF file is refused before the run, as its loader would refuse it).
    ``pth_inputs``: the model inputs whose ``.pth`` files it reads without the run's pickle
    opt-in, through ``torch.load(weights_only=True)`` only (the upscale and frame
    interpolation loaders, whose models are mostly released so); every other input's pickle
    still needs ``--allow-pickle``. ``torchscript_inputs``: the model inputs whose TorchScript
    archives it reads as data (``models.torchscript_weights``: tensors only, nothing run),
    without the opt-in (FILM VFI, whose only release is such an archive). ``background``: a
    model loader the engine may run on a worker thread ahead of its turn, while other nodes
    work: it only reads its inputs, files and the context's folders and devices, and touches
    no state shared with other nodes (no residency moves, no progress). ``lazy``: for a node
    with lazy inputs (the spec's ``lazy``), ComfyUI's ``check_lazy_status``: given the node's
    other inputs (a linked lazy input given as ``None``, an unconnected one absent, as
    ComfyUI gives them), the lazy inputs it will read; the engine does not run what only
    feeds the others (``wfrun.engine.lazy``). ``pure``: a cheap function of its inputs alone
    (no files, models, devices, context or randomness), which the planner may call on
    constant inputs to make a lazy node's choice before anything runs (a primitive, a math
    expression, a switch). ``prefetch``: called by the engine when a run with background
    loads starts, with the node's context and its constant inputs (widgets, not links), to
    start reading what the node will need on a worker (a LoRA file the sampler merges); it
    returns what drops that read if the node never takes it, and must neither fail the run
    nor block it (the engine ignores its errors: the node names them at its turn).
    ``lazy_like``: for inputs the frontend adds that no signature declares (a switch's
    ``input2``, ``input3``…), the declared input whose laziness each shares (``input1``), or
    None: ComfyUI treats them as the pack's ``INPUT_TYPES`` answers for them. ``ahead``: for a
    node that passes on a model it takes from a background loader (a LoRA on the MODEL), the
    work its consumer would do first with what it returns, started on a worker as soon as the
    loader is done (the LoRA merge, while the main thread encodes): the engine then runs the
    node's function there too (it must be cheap and, like a loader, touch no shared state)
    and calls ``ahead(ctx, outputs)``; the node still runs at its turn. It must not change
    what any node gives, and its errors are ignored (the node names them at its turn)."""

    fn: ExecutorFn
    oom_hint: str | None = None
    volatile: bool = False
    input_files: InputFiles | None = None
    gguf_inputs: frozenset[str] = frozenset()
    pth_inputs: frozenset[str] = frozenset()
    torchscript_inputs: frozenset[str] = frozenset()
    background: bool = False
    lazy: Callable[[dict[str, Any]], Iterable[str]] | None = None
    pure: bool = False
    prefetch: Callable[["ExecContext", dict[str, Any]], Callable[[], None]] | None = None
    lazy_like: Callable[[str], str | None] | None = None
    ahead: Callable[["ExecContext", tuple], None] | None = None


_EXECUTORS: dict[str, ExecutorInfo] = {}
#: Executors of a node type that two packs define, keyed by (spec pack, class_type).
_PACK_EXECUTORS: dict[tuple[str, str], ExecutorInfo] = {}


def executor(*class_types: str, volatile: bool = False, oom_hint: str | None = None,
             input_files: InputFiles | None = None, gguf_inputs: tuple[str, ...] = (),
             pth_inputs: tuple[str, ...] = (),
             torchscript_inputs: tuple[str, ...] = (), background: bool = False,
             pack: str | None = None,
             lazy: Callable[[dict[str, Any]], Iterable[str]] | None = None,
             pure: bool = False,
             prefetch: Callable[["ExecContext", dict[str, Any]], Callable[[], None]] | None = None,
             lazy_like: Callable[[str], str | None] | None = None,
             ahead: Callable[["ExecContext", tuple], None] | None = None,
             ) -> Callable[[ExecutorFn], ExecutorFn]:
    """Register a function as the executor of one or more node types, with its metadata.

    ``pack`` (a spec file's ``pack``): the executor of that pack's node of this name, for a
    type another pack also defines (the registry reads a node with its own pack's spec when
    the file names the pack; see ``Registry.get``). Without it, the executor serves the
    spec the registry picks by default."""

    def register(fn: ExecutorFn) -> ExecutorFn:
        table: dict[Any, ExecutorInfo] = _PACK_EXECUTORS if pack is not None else _EXECUTORS
        for class_type in class_types:
            key = (pack, class_type) if pack is not None else class_type
            if key in table and table[key].fn is not fn:
                raise ValueError(f"two executors for {class_type}" + (f" of {pack}" if pack else ""))
            table[key] = ExecutorInfo(fn, oom_hint=oom_hint, volatile=volatile, input_files=input_files,
                                      gguf_inputs=frozenset(gguf_inputs), pth_inputs=frozenset(pth_inputs),
                                      torchscript_inputs=frozenset(torchscript_inputs), background=background,
                                      lazy=lazy, pure=pure, prefetch=prefetch, lazy_like=lazy_like,
                                      ahead=ahead)
        return fn

    return register


def registered_info(class_type: str, pack: str | None = None, shared: bool = True) -> ExecutorInfo | None:
    """The executor and metadata registered for ``class_type`` so far (packs register when
    imported; ``wfrun.engine.executors`` imports them all before looking one up).

    ``pack``: the pack of the spec the node was read with; its own executor comes first.
    ``shared``: whether the executor registered by ``class_type`` alone may serve it (not
    when the node is another pack's namesake of the default one: its inputs differ)."""
    if pack is not None and (pack, class_type) in _PACK_EXECUTORS:
        return _PACK_EXECUTORS[(pack, class_type)]
    return _EXECUTORS.get(class_type) if shared else None


def registered_pack_types() -> list[tuple[str, str]]:
    """(pack, class_type) of the executors registered for one pack's namesake node."""
    return sorted(_PACK_EXECUTORS)


def registered(class_type: str, pack: str | None = None, shared: bool = True) -> ExecutorFn | None:
    """The executor function registered for ``class_type`` so far (see :func:`registered_info`)."""
    info = registered_info(class_type, pack, shared)
    return info.fn if info is not None else None


def builtin_executor(class_type: str, input_name: str) -> ExecutorFn:
    """The executor of a node type wfrun itself ships (a pack running ComfyUI's own nodes, or
    the wrapper's, through the registry: packs do not import each other); a missing one
    means a broken install, said as the error of the calling node's ``input_name``."""
    fn = registered(class_type)
    if fn is None:
        raise NodeInputError(input_name, f"wfrun's {class_type} is not available in this installation",
                             "reinstall wfrun")
    return fn


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
    #: The date of the node signature the workflow was saved with (``NodeInstance.saved_date``).
    saved_date: str | None = None
    workflow_json: Any = None
    #: ``wfrun run --fast``: model loaders make the transformer's block matmuls fp8 and compile them.
    fast: bool = False
    #: ``--fast`` without ``--no-fp8-attention``: the blocks' self-attention in fp8 too
    #: (models/fp8_attention.py, on GPUs that have it).
    fp8_attention: bool = False
    written: list[Path] = field(default_factory=list)
    interrupted: bool = False

    def check_interrupt(self) -> None:
        if self.interrupted:
            raise KeyboardInterrupt

    def chunk_progress(self, title: str) -> "ChunkProgress":
        """A ``progress(done, total)`` callback for work in chunks (:class:`ChunkProgress`)."""
        return ChunkProgress(self, title)


class ChunkProgress:
    """A ``progress(done, total)`` callback for work in chunks whose count is known only once
    it starts (the audio separators): checks for Ctrl-C at each call and shows a bar of
    ``total`` chunks, opened at the first call and advanced by one for each ``done``;
    ``close()`` ends the bar."""

    def __init__(self, ctx: ExecContext, title: str):
        self.ctx, self.title, self.bar = ctx, title, None

    def __call__(self, done: int, total: int) -> None:
        self.ctx.check_interrupt()
        if self.ctx.progress is not None:
            if self.bar is None:
                self.bar = self.ctx.progress.chunks(total, self.title)
            if done:
                self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
