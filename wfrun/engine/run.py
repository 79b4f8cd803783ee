"""Executing a plan: resolve inputs, run or reuse each node, free values after last use.

Like ComfyUI's executor with its classic cache, a value is held only until its last
consumer ran, and a process-wide :class:`OutputCache` keeps the outputs of the latest run
by fingerprint, so re-running with one widget changed recomputes only what depends on it.
Ctrl-C stops between nodes (and between sampler steps, which call
``ctx.check_interrupt``) and the result says what was already written.

Values are held as ComfyUI's lists are (``wfrun.engine.lists``): a plain value is a list
of one, and a node fed a longer list runs once per item; a workflow without lists takes
exactly the plain path.

Lazy inputs (``wfrun.engine.lazy``): a node that only feeds lazy inputs their consumers
will not read is skipped at its turn (``RunResult.skipped``; the consumer gets ``None``), and
the planner's untaken branches (``Plan.untaken``) are not there to run at all.
"""

from __future__ import annotations

import contextvars
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from wfrun.engine import lists
from wfrun.engine.fingerprint import fingerprint
from wfrun.engine.inputs import with_defaults as _with_defaults
from wfrun.engine.lazy import Branches, reads_now, without_unread
from wfrun.engine.loops import find_loops
from wfrun.engine.plan import Plan, is_output_node
from wfrun.graph.model import LinkRef, NodeInstance, WorkflowGraph
from wfrun.engine.executors import executor_info
from wfrun.nodes.executor import ExecContext, ExecutorInfo, NodeInputError

log = logging.getLogger(__name__)


class NodeError(Exception):
    """A node failed in a way the user can act on; names the node and input."""

    def __init__(self, node: NodeInstance, message: str, input_name: str | None = None,
                 hint: str | None = None):
        where = f"node {node.id} '{node.label}' ({node.class_type})"
        if input_name:
            where += f", input '{input_name}'"
        text = f"{where}: {message}" + (f"\n    hint: {hint}" if hint else "")
        super().__init__(text)
        self.node = node
        self.input_name = input_name


class OutputCache:
    """Outputs by fingerprint, kept for the nodes of the latest run only."""

    def __init__(self) -> None:
        self._store: dict[str, tuple] = {}

    def get(self, key: str) -> tuple | None:
        return self._store.get(key)

    def put(self, key: str, outputs: tuple) -> None:
        self._store[key] = outputs

    def retain(self, keys: set[str]) -> None:
        self._store = {k: v for k, v in self._store.items() if k in keys}

    def __len__(self) -> int:
        return len(self._store)


@dataclass
class RunResult:
    outputs: dict[str, tuple] = field(default_factory=dict)
    executed: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    interrupted: bool = False
    #: Most node outputs held at once (what freeing after last use bounds).
    peak_live_values: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    #: When each node began (``time.perf_counter()``), a loader in the background included:
    #: with ``seconds``, where a job's time went and what overlapped.
    started: dict[str, float] = field(default_factory=dict)
    #: Nodes a loop blocks (they hang off its body; ``wfrun.engine.loops``): never run.
    blocked: list[str] = field(default_factory=list)
    #: Nodes not run because only lazy inputs that were not read use them (``wfrun.engine.lazy``;
    #: those the planner left out are ``Plan.untaken``).
    skipped: list[str] = field(default_factory=list)


def _out_of_memory(err: BaseException) -> str:
    """What ran out, in numbers: a user's first question is how far off they are."""
    if isinstance(err, torch.OutOfMemoryError) and torch.cuda.is_available():
        free, total = torch.cuda.mem_get_info()
        used = torch.cuda.max_memory_allocated() / 2**30
        return (f"ran out of GPU memory (peak {used:.1f} GiB allocated by this run, "
                f"{free / 2**30:.1f} of {total / 2**30:.1f} GiB free now)")
    return "ran out of memory" + (f" ({str(err).splitlines()[0]})" if str(err) else "")


def run_plan(graph: WorkflowGraph, plan: Plan, ctx: ExecContext, cache: OutputCache | None = None,
             adjust_inputs: Callable[[NodeInstance, dict[str, Any]], dict[str, Any]] | None = None,
             background: bool = False) -> RunResult:
    """Run ``plan``; ``adjust_inputs(node, resolved inputs)`` may change a node's inputs
    just before it runs (``--smoke`` caps values computed by other nodes).

    ``background``: model loaders (executors registered with ``background=True``) start on a
    worker thread as soon as their inputs exist, so the transformer's checkpoint is read
    while the text and image encoders work; a loader still reading at its turn is waited
    for only when a later node needs its outputs (a plan may list the transformer's loader
    before the text encoder), and its error is raised there, naming the loader. Nothing
    else changes: the same values, errors and cache.

    A node whose inputs wait on such a loader (a LoRA or sampling patch on the model being
    read, the sampler itself) is put off too, where nothing stops it from running later (no
    output node, no loop, not volatile): the nodes after it that do not need the model (the
    VAE encode of the start image) run first, and it runs as soon as what it waits on is
    there (in plan order among those ready), or where a later node must have it, which then
    takes what is ready first and else the first model to arrive. Its inputs are held until
    it has run."""
    result = RunResult()
    values: dict[str, tuple] = {}
    prints: dict[str, str] = {}
    keep = set(plan.outputs)
    #: nodes whose turn came while a model they need was still being read (the loaders
    #: themselves, and nodes put off after them), in plan order
    deferred: dict[str, _Deferred] = {}
    #: values whose last consumer had its turn while a put-off node still needs them
    held: set[str] = set()

    def ready(node_id: str) -> bool:
        entry = deferred[node_id]
        if entry.run is None:
            return loads.finished(node_id)
        return all(ready(s) for s in entry.sources if s in deferred)

    def release(sources: list[str]) -> None:
        for source in sources:
            if any(source in e.sources for e in deferred.values() if e.run is not None):
                held.add(source)
            elif source not in keep:
                values.pop(source, None)

    def closure(*node_ids: str) -> set[str]:
        """These nodes and the put-off nodes they read from, directly or not."""
        found, todo = set(), list(node_ids)
        while todo:
            n = todo.pop()
            if n in deferred and n not in found:
                found.add(n)
                todo.extend(deferred[n].sources)
        return found

    def take(*node_ids: str) -> None:
        """These nodes' values, with what they wait on taken first: whatever of that is
        ready, in plan order, and else the first model that arrives, not one chosen in
        advance."""
        while any(n in deferred for n in node_ids):
            order = sorted(closure(*node_ids), key=position_of.__getitem__)
            first = next((n for n in order if ready(n)), None)
            if first is None:
                loads.wait_any([n for n in order if deferred[n].run is None])
                continue
            for n in sorted(closure(first), key=position_of.__getitem__):  # all ready: nothing waits
                take_one(n)

    def take_one(node_id: str) -> None:
        entry = deferred[node_id]
        if entry.run is None:
            del deferred[node_id]
            values[node_id] = loads.collect(graph.node(node_id), result)
        else:
            values[node_id] = _execute(entry.node, entry.run, entry.inputs, values, ctx, result, adjust_inputs)
            del deferred[node_id]
            result.peak_live_values = max(result.peak_live_values, len(values))
            freed = [s for s in entry.sources if s in held]
            held.difference_update(freed)
            release(freed)
        if cache is not None and entry.cacheable:
            cache.put(entry.key, values[node_id])

    def run_ready() -> None:
        """Run the put-off nodes whose models have been read, in plan order: the plan's own
        order wherever the loads allow it."""
        progressed = True
        while progressed:
            progressed = False
            for n in list(deferred):
                if n in deferred and deferred[n].run is not None and ready(n):
                    take(n)
                    progressed = True

    position_of = {node_id: i for i, node_id in enumerate(plan.order)}
    loops = find_loops(graph, plan.order, plan.chosen)
    free_after = loops.free_after(plan, graph) if loops is not None else plan.free_after
    absent = set(plan.untaken)  # grows by what is skipped: links to these arrive as None
    lazy = _LazyWalk(graph, plan, loops, values, absent, _resolver(adjust_inputs, absent))
    loads = _BackgroundLoads(graph, plan, ctx, cache, adjust_inputs, lazy) if background else None
    try:
        for position, node_id in enumerate(plan.order):
            ctx.check_interrupt()
            if loads is not None:
                loads.start_ready(position, values, prints)
            if deferred:
                run_ready()
            node = without_unread(graph.node(node_id), absent)
            waits_on: list[str] = []  # what this node reads that is still being read
            if deferred:  # a loop runs its body here: everything waited for; else what this node reads
                needed = list(deferred) if loops is not None and node_id in loops.regions else [
                    v.node_id for v in node.inputs.values() if isinstance(v, LinkRef) and v.node_id in deferred]
                needed = list(dict.fromkeys(needed))
                if loops is None and not all(ready(source) for source in needed):
                    waits_on = needed  # put off below if it can be, else taken there
                else:
                    take(*needed)
            if loops is not None and loops.skipped(node_id):  # runs in its loop, or never (blocked)
                prints[node_id] = fingerprint(node, _with_defaults(node), prints)
                if node_id in loops.blocked:
                    result.blocked.append(node_id)
                continue
            if lazy.unread(node_id):  # only lazy inputs that will not be read take its outputs
                absent.add(node_id)
                result.skipped.append(node_id)
                release(free_after.get(node_id, []))
                continue
            info = executor_info(node.class_type, node.spec)
            if info is None:
                raise NodeError(node, "wfrun cannot run this node type yet")
            inputs = _with_defaults(node)
            key = fingerprint(node, inputs, prints)
            prints[node_id] = key
            looping = loops is not None and node_id in loops.regions
            volatile = is_output_node(graph, node_id) or info.volatile or (looping and loops.volatile(node_id, graph))
            outputs = None if (cache is None or volatile) else cache.get(key)
            if outputs is not None:
                result.cached.append(node_id)
                if ctx.progress:
                    ctx.progress.node_finished(node_id, node.label, 0.0, True)
            else:
                if waits_on and not volatile and not is_output_node(graph, node_id):
                    deferred[node_id] = _Deferred(key, cache is not None, node, info, inputs, tuple(waits_on) + tuple(
                        v.node_id for v in inputs.values() if isinstance(v, LinkRef) and v.node_id not in waits_on))
                    release(free_after.get(node_id, []))  # held for it where it is the last to read them
                    continue
                take(*waits_on)  # an output node (or a volatile one) waits here for what it reads
                if loads is not None and loads.started(node_id) and not loads.finished(node_id):
                    deferred[node_id] = _Deferred(key, cache is not None and not volatile)
                    release(free_after.get(node_id, []))  # its inputs went with it to the worker
                    continue
                if loads is not None and loads.started(node_id):
                    outputs = loads.collect(node, result)
                elif looping:
                    outputs = loops.run(node_id, graph, values, ctx, _resolver(adjust_inputs, absent),
                                        _executor(ctx, result, adjust_inputs, absent))
                    result.executed.append(node_id)
                else:
                    outputs = _execute(node, info, inputs, values, ctx, result, adjust_inputs)
                if cache is not None and not volatile:
                    cache.put(key, outputs)
            values[node_id] = outputs
            result.peak_live_values = max(result.peak_live_values, len(values))
            release(free_after.get(node_id, []))
        while deferred:  # nothing after them read them (outputs of the plan)
            run_ready()
            if deferred:
                take(next(iter(deferred)))
    except KeyboardInterrupt:
        result.interrupted = True
    finally:
        if loads is not None:
            loads.close()
    if cache is not None and not result.interrupted:
        cache.retain(set(prints.values()))
    result.outputs = {k: v for k, v in values.items() if k in keep}
    result.written = list(ctx.written)
    return result


@dataclass
class _Deferred:
    """A node whose turn came while a model it needs was still being read: a loader (``run``
    None: its worker has it) or a node put off after one, run on this thread when taken."""

    key: str
    cacheable: bool
    node: NodeInstance | None = None
    run: ExecutorInfo | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    #: the nodes whose values it reads (those it waited on first)
    sources: tuple[str, ...] = ()


class _LazyWalk:
    """Which planned nodes the walk skips: those only lazy inputs that will not be read take
    (``lazy.Branches``), judged with what has run so far. Loop members are judged by their
    loop; seen from here they read what they take."""

    def __init__(self, graph: WorkflowGraph, plan: Plan, loops: Any, values: dict[str, tuple], absent: set[str],
                 resolve: Callable):
        blocked = loops.blocked if loops is not None else set()
        inside = set(loops.inside) if loops is not None else set()
        scope = [n for n in plan.order if n not in inside and n not in blocked]
        self.branches = Branches(graph, scope, readers=inside, keep=set(plan.outputs), settled=plan.chosen)
        self.graph, self.values, self.absent, self.resolve = graph, values, absent, resolve
        self.known: dict[str, set[str]] = {}

    def reads_of(self, consumer_id: str) -> set[str] | None:
        if consumer_id not in self.known:
            got = reads_now(self.graph.node(consumer_id), self.values, self.resolve)
            if got is None:
                return None
            self.known[consumer_id] = got  # a choice made stays made: its inputs do not change
        return self.known[consumer_id]

    def state(self, node_id: str) -> bool | None:
        """True: nothing will read ``node_id``; False: something will; None: not known yet."""
        if not self.branches or node_id not in self.branches.candidates:
            return False
        return self.branches.unread(node_id, self.absent, self.reads_of)

    def unread(self, node_id: str) -> bool:
        return self.state(node_id) is True


class _BackgroundLoads:
    """Loader nodes running ahead of the plan on worker threads (``run_plan(background=True)``).

    A loader starts once every node it takes a value from has run; it gets its own copy of
    the context (its node id, title and saved date; no progress, which the main thread
    reports when it takes the result). One worker reads the diffusion models, one after
    another: they are the largest files, and two read at once share the disk and the copy
    to the GPU, so both arrive late (Wan 2.2's two experts: 5.3 s each together on the
    H200, against 3.0 and 3.4 s one after the other; bench/RESULTS.md, session 16).
    ``WORKERS`` more read the rest (text encoders, VAEs, CLIP vision) beside them. Each
    takes its loaders in the order the plan first uses their models. One more worker does
    what the diffusion model's reader would do first with it (``ExecutorInfo.ahead``: a
    LoRA node's merge) as soon as the model is read, beside the main thread's encodes."""

    WORKERS = 1
    #: The types a loader of a diffusion model gives (ComfyUI's, the wrapper's).
    DIFFUSION_MODEL_TYPES = frozenset({"MODEL", "WANVIDEOMODEL"})

    def __init__(self, graph: WorkflowGraph, plan: Plan, ctx: ExecContext, cache: OutputCache | None,
                 adjust_inputs: Callable | None, lazy: _LazyWalk):
        from concurrent.futures import ThreadPoolExecutor

        from wfrun.models.meta_init import import_model_libraries

        import_model_libraries()  # lazy library imports are not safe on two threads at once
        self.graph, self.plan, self.ctx, self.cache, self.adjust = graph, plan, ctx, cache, adjust_inputs
        self.lazy = lazy
        self.pool = ThreadPoolExecutor(max_workers=self.WORKERS, thread_name_prefix="wfrun-load")
        self.model_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wfrun-load-model")
        self.futures: dict[str, Any] = {}
        self.index = {node_id: i for i, node_id in enumerate(plan.order)}
        loaders = [n for n in plan.order
                   if (i := executor_info(graph.node(n).class_type, graph.node(n).spec)) is not None and i.background]
        self.waiting = sorted(loaders, key=self._needed_at)
        self.releases = self._prefetch()
        self.compiler_prepared = False
        #: diffusion-model loaders started whose consumer may work ahead (``ExecutorInfo.ahead``)
        self.ahead_waiting: list[str] = []
        self.ahead_pool: Any = None

    def _prefetch(self) -> list[Callable[[], None]]:
        """Let the nodes that will run start reading their files (``ExecutorInfo.prefetch``:
        the LoRAs a sampler merges) from their constant inputs; what each returns drops its
        read at the end of the run if the node never took it."""
        import dataclasses

        releases = []
        for node_id in self.plan.order:
            node = without_unread(self.graph.node(node_id), self.lazy.absent)
            info = executor_info(node.class_type, node.spec)
            if (info is None or info.prefetch is None or node_id in self.lazy.absent
                    or self.lazy.state(node_id) is not False):
                continue
            constants = {k: v for k, v in _with_defaults(node).items() if not isinstance(v, LinkRef)}
            own = dataclasses.replace(self.ctx, node_id=node.id, node_title=node.label, saved_date=node.saved_date,
                                      progress=None)
            try:
                releases.append(info.prefetch(own, constants))
            except Exception:  # noqa: BLE001 - only a head start: the node reports its inputs at its turn
                continue
        return releases

    def _needed_at(self, node_id: str) -> tuple[int, int]:
        """When the plan first uses ``node_id``'s outputs: the workers take loaders in that
        order, so the model the first sampler waits for is read before one needed later
        (a plan may list the second expert's loader before the first's), and the VAE the
        start image's encode needs before the transformers. A node that gives back a value
        of the type it took from the loader (a LoRA or a sampling patch on the model, a
        switch) only passes it on, and is put off while the model is read: the use is its
        consumers'."""
        first = len(self.index)
        seen: set[str] = set()
        todo = [node_id]
        while todo:
            for _, consumer, data in self.graph.graph.out_edges(todo.pop(), data=True):
                if consumer not in self.index or consumer in seen:
                    continue
                seen.add(consumer)
                taken = data.get("type")
                given = {str(t) for t in self.graph.node(consumer).output_types}
                if taken and str(taken) != "*" and (str(taken) in given or "*" in given):
                    todo.append(consumer)
                else:
                    first = min(first, self.index[consumer])
        return first, self.index[node_id]

    def started(self, node_id: str) -> bool:
        return node_id in self.futures

    def finished(self, node_id: str) -> bool:
        return self.futures[node_id].done()

    def wait_any(self, node_ids: list[str]) -> None:
        """Until one of these loaders has finished reading."""
        from concurrent.futures import FIRST_COMPLETED, wait

        wait([self.futures[n] for n in node_ids], return_when=FIRST_COMPLETED)

    def start_ready(self, position: int, values: dict[str, tuple], prints: dict[str, str]) -> None:
        import dataclasses

        submitted_model = False
        for node_id in list(self.waiting):
            if self.index[node_id] < position:  # its turn came before it could start
                self.waiting.remove(node_id)
                continue
            node = without_unread(self.graph.node(node_id), self.lazy.absent)
            info = executor_info(node.class_type, node.spec)
            inputs = _with_defaults(node)
            if any(isinstance(v, LinkRef) and v.node_id not in values for v in inputs.values()):
                continue
            if self.lazy.state(node_id) is not False:
                continue  # on a branch a lazy input may leave unread: not loaded before that is known
            self.waiting.remove(node_id)
            if self.cache is not None and self.cache.get(fingerprint(node, inputs, prints)) is not None:
                continue  # served from the cache where it stands
            kwargs = _values(inputs, values)
            if lists.needs_lists(node, kwargs):
                continue  # runs at its turn, where lists are mapped
            if self.adjust is not None:
                kwargs = self.adjust(node, kwargs)
            own = dataclasses.replace(self.ctx, node_id=node.id, node_title=node.label, saved_date=node.saved_date,
                                      progress=None)
            # the caller's context variables (the pickle opt-in) and inference mode go along
            pool = self.model_pool if self.DIFFUSION_MODEL_TYPES & {str(t) for t in node.output_types} else self.pool
            self.futures[node_id] = pool.submit(contextvars.copy_context().run, _timed_call, node, info, kwargs,
                                                     own, torch.is_inference_mode_enabled())
            if pool is self.model_pool:
                submitted_model = True
                self.ahead_waiting.append(node_id)
        if submitted_model:  # after the loop: the other loaders ready now read beside it
            self._prepare_compiler()
        self._start_ahead(values)

    def _consumers(self, node_id: str) -> set[str]:
        """The planned nodes that will read ``node_id``'s outputs (not a switch whose input
        from it the planner left untaken: the template's plain branch beside its LoRA one)."""
        chosen = self.plan.chosen
        return {c for _, c, data in self.graph.graph.out_edges(node_id, data=True)
                if c in self.index and c not in self.lazy.absent
                and (c not in chosen or data.get("input") in chosen[c])}

    def _ahead_chain(self, loader_id: str, values: dict[str, tuple]) -> list[str] | None:
        """The nodes to run on a worker after ``loader_id`` (the last one's ``ahead`` called):
        its only reader if that has ``ahead``, and on from there while each is the only reader
        of the one before and has ``ahead`` too (LoRA after LoRA); [] where there is none (a
        model two branches read: which merge to keep is theirs to say); None while another
        input of theirs has not been computed yet."""
        chain: list[str] = []
        current = loader_id
        while True:
            readers = self._consumers(current)
            if len(readers) != 1:
                break
            reader = readers.pop()
            node = without_unread(self.graph.node(reader), self.lazy.absent)
            info = executor_info(node.class_type, node.spec)
            if info is None or info.ahead is None or self.lazy.state(reader) is not False:
                break
            links = [v.node_id for v in node.inputs.values() if isinstance(v, LinkRef)]
            if any(n != current and n not in values for n in links):
                return None
            chain.append(reader)
            current = reader
        return chain

    def _start_ahead(self, values: dict[str, tuple]) -> None:
        """Start the ``ahead`` work of the readers of the models being read, once their other
        inputs exist: on a worker of its own, after the model is there (``ExecutorInfo.ahead``)."""
        for loader_id in list(self.ahead_waiting):
            future = self.futures.get(loader_id)
            chain = self._ahead_chain(loader_id, values) if future is not None else []
            if chain is None:
                continue
            self.ahead_waiting.remove(loader_id)
            if not chain:
                continue
            if self.ahead_pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self.ahead_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wfrun-ahead")
            known = {v.node_id: values[v.node_id] for n in chain for v in self.graph.node(n).inputs.values()
                     if isinstance(v, LinkRef) and v.node_id in values}
            self.ahead_pool.submit(contextvars.copy_context().run, self._run_ahead, loader_id, future, chain, known,
                                   torch.is_inference_mode_enabled())

    def _run_ahead(self, loader_id: str, future: Any, chain: list[str], known: dict[str, tuple],
                   inference: bool) -> None:
        """The chain's functions on this worker, then the last one's ``ahead`` with its outputs;
        a failure is only a lost head start (the nodes report it at their turn)."""
        import dataclasses

        try:
            values = dict(known)
            values[loader_id] = future.result()[0]  # (outputs, seconds, started): _timed_call
            with torch.inference_mode(inference):
                for node_id in chain:
                    node = without_unread(self.graph.node(node_id), self.lazy.absent)
                    info = executor_info(node.class_type, node.spec)
                    kwargs = _values(_with_defaults(node), values)
                    if lists.needs_lists(node, kwargs):
                        return
                    if self.adjust is not None:
                        kwargs = self.adjust(node, kwargs)
                    own = dataclasses.replace(self.ctx, node_id=node.id, node_title=node.label,
                                              saved_date=node.saved_date, progress=None)
                    values[node_id] = info.fn(own, **kwargs)
                start = time.perf_counter()
                info.ahead(own, values[chain[-1]])
            log.debug("node %s: ahead work done in %.2f s", chain[-1], time.perf_counter() - start)
        except Exception as err:  # noqa: BLE001 - a head start only
            log.debug("node %s: ahead work failed: %s", chain[-1], err)

    def _prepare_compiler(self) -> None:
        """Once, while the first diffusion model is read: a ``--fast`` run's loader compiles
        the model's blocks, so the compiler's imports are done here, on the main thread, while
        the other threads read, not beside the first GPU nodes (``compile.prepare_compiler``)."""
        if self.compiler_prepared or not self.ctx.fast or not str(self.ctx.device).startswith("cuda"):
            return
        self.compiler_prepared = True
        from wfrun.models.compile import prepare_compiler

        prepare_compiler()

    def collect(self, node: NodeInstance, result: RunResult) -> tuple:
        """The loader's outputs (its error raised here, in the main thread, as if it ran here)."""
        if self.ctx.progress:
            self.ctx.progress.node_started(node.id, node.label)
        outputs, seconds, started = self.futures.pop(node.id).result()
        result.seconds[node.id] = seconds
        result.started[node.id] = started
        result.executed.append(node.id)
        if self.ctx.progress:
            self.ctx.progress.node_finished(node.id, node.label, seconds, False)
        return outputs

    def close(self) -> None:
        for pool in (self.pool, self.model_pool, self.ahead_pool):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        for release in self.releases:
            release()


def _timed_call(node: NodeInstance, info: ExecutorInfo, kwargs: dict[str, Any], ctx: ExecContext,
                inference: bool) -> tuple:
    start = time.perf_counter()
    with torch.inference_mode(inference):
        outputs = _call(node, info, kwargs, ctx)
    return outputs, time.perf_counter() - start, start


def _resolver(adjust_inputs: Callable | None, absent: set[str] = frozenset()) -> Callable:
    """A node's resolved inputs from a loop iteration's values (``wfrun.engine.loops``): the
    loop's open and close nodes run once per loop, never once per list item, so a list of
    several items reaching them is refused by name, unless the node takes lists whole
    (``input_is_list``: ComfyUI core's Start Loop and End Loop), which then gets it as held."""

    def resolve(node: NodeInstance, values) -> dict[str, Any]:
        kwargs = _values(_with_defaults(without_unread(node, absent)), values)
        listed = None if lists.takes_lists(node) else next(
            (name for name, v in kwargs.items() if isinstance(v, lists.ItemList)), None)
        if listed is not None:
            raise NodeError(node, f"a list of {len(kwargs[listed])} items reaches this loop node; wfrun does not run "
                            "a loop once per list item", listed, "join the list into one value before the loop")
        return adjust_inputs(node, kwargs) if adjust_inputs is not None else kwargs

    return resolve


def _executor(ctx: ExecContext, result: RunResult, adjust_inputs: Callable | None,
              absent: set[str] = frozenset()) -> Callable:
    """Runs one body node of a loop iteration (never cached: its inputs change each time)."""

    def execute(node: NodeInstance, values: dict[str, tuple]) -> tuple:
        node = without_unread(node, absent)
        info = executor_info(node.class_type, node.spec)
        if info is None:
            raise NodeError(node, "wfrun cannot run this node type yet")
        return _execute(node, info, _with_defaults(node), values, ctx, result, adjust_inputs)

    return execute


def _values(inputs: dict[str, Any], values: dict[str, tuple]) -> dict[str, Any]:
    """Inputs with each link replaced by the value it carries, as held (a list stays an
    ``ItemList``: ``lists.run_node`` hands out its items)."""
    return {name: values[v.node_id][v.slot] if isinstance(v, LinkRef) else v for name, v in inputs.items()}


def _execute(node: NodeInstance, info: ExecutorInfo, inputs: dict[str, Any], values: dict[str, tuple],
             ctx: ExecContext, result: RunResult, adjust_inputs: Callable | None = None) -> tuple:
    kwargs = _values(inputs, values)
    ctx.node_id, ctx.node_title, ctx.saved_date = node.id, node.label, node.saved_date
    if ctx.progress:
        ctx.progress.node_started(node.id, node.label)
    start = time.perf_counter()
    adjust = (lambda one: adjust_inputs(node, one)) if adjust_inputs is not None else None
    try:
        outputs = lists.run_node(node, kwargs, lambda one: _call(node, info, one, ctx), adjust, ctx.check_interrupt)
    except lists.ListError as err:
        raise NodeError(node, str(err), err.input_name or None, err.hint) from None
    seconds = time.perf_counter() - start
    result.seconds[node.id] = seconds
    result.started[node.id] = start
    result.executed.append(node.id)
    if ctx.progress:
        ctx.progress.node_finished(node.id, node.label, seconds, False)
    return outputs


def _call(node: NodeInstance, info: ExecutorInfo, kwargs: dict[str, Any], ctx: ExecContext) -> tuple:
    """The executor, with every failure it can have named by the node."""
    try:
        outputs = info.fn(ctx, **kwargs)
    except NodeInputError as err:
        raise NodeError(node, str(err), err.input_name, err.hint) from None
    except (torch.OutOfMemoryError, MemoryError) as err:
        raise NodeError(node, _out_of_memory(err), hint=info.oom_hint
                        or "use a smaller size or fewer frames, or run on a device with more memory") from None
    except OSError:
        raise  # a file the user can act on: the CLI's guard names it
    except Exception as err:
        if getattr(type(err), "stops_the_run", False) or os.environ.get("WFRUN_DEBUG"):
            raise
        # a case the executor did not foresee: still named by node, never a bare traceback
        raise NodeError(node, f"failed: {type(err).__name__}: {err}",
                        hint="this looks like a wfrun bug: run again with WFRUN_DEBUG=1 for the traceback and "
                             "report it with the workflow") from None
    if not isinstance(outputs, tuple):
        raise TypeError(f"executor of {node.class_type} returned {type(outputs).__name__}, not a tuple")
    return outputs
