"""Block swap: stream a model's swapped blocks from pinned host memory, one block ahead.

The pack's ``WanVideoBlockSwap`` keeps the first N transformer blocks on the CPU and moves
each to the GPU for its own forward. Done naively (synchronous ``.to()`` from pageable
memory) every swapped block stalls the GPU for its whole transfer. Here each swapped
module's tensors get one pinned host copy, made once; when a module starts its forward,
the *next* swapped module's copy is already under way on a side CUDA stream, so transfer
overlaps compute, and after the forward the module points back at its host copy (the GPU
copy is released once the compute stream is done with it). The modules are listed in call
order, cyclically: the last one prefetches the first for the next forward (the next cfg
pass or step), so at most two swapped modules are on the GPU at a time.

diffusers' group offloading does the same per group but prefetches only when applied to a
whole model; applied to a few blocks each is loaded when it is reached, and measured on an
H100 that exposed every transfer (bench/block_swap_14b.py, bench/RESULTS.md).

The streamer lives with the model, in diffusers' hook registry (``models/module_hooks.py``):
it is registered on the transformer under ``BLOCK_STREAM`` (where placement and the sampler
find it), and each streamed module carries a :class:`_StreamHook` that calls the streamer
before and after the module's forward. :meth:`BlockStreamer.remove` takes them all off.
"""

from __future__ import annotations

import torch
from diffusers.hooks import ModelHook
from torch import nn

from wfrun.models import module_hooks

#: The name of each streamed module's hook in its registry.
STREAM_HOOK = "wfrun.block_stream.module"


class _StreamHook(ModelHook):
    """On one streamed module: bring its tensors in before its forward, back out after."""

    def __init__(self, streamer: "BlockStreamer", index: int):
        super().__init__()
        self.streamer = streamer
        self.index = index

    def pre_forward(self, module: nn.Module, *args, **kwargs):
        self.streamer._before(self.index)
        return args, kwargs

    def post_forward(self, module: nn.Module, output):
        self.streamer._after(self.index)
        return output


class BlockStreamer(ModelHook):
    """Keeps ``modules`` on the host and streams each to ``device`` for its forward.

    A ``ModelHook`` only to be registered on the transformer (under
    ``module_hooks.BLOCK_STREAM``): it changes nothing in the transformer's own forward.
    ``streamed_ids`` are the ids of the streamed modules (placement moves everything else)."""

    def __init__(self, modules: list[nn.Module], device: str | torch.device, prefetch: bool = True):
        super().__init__()
        self.modules = list(modules)
        self.streamed_ids = frozenset(id(m) for m in self.modules)
        self.device = torch.device(device)
        cuda = self.device.type == "cuda"
        self.stream = torch.cuda.Stream(self.device) if cuda and prefetch else None
        self.tensors: list[list[torch.Tensor]] = []
        self.host: list[list[torch.Tensor]] = []
        self.pending: dict[int, tuple[list[torch.Tensor], torch.cuda.Event | None]] = {}
        for index, module in enumerate(self.modules):
            tensors = [*module.parameters(), *module.buffers()]
            host = [t.data.to("cpu") for t in tensors]
            if cuda:
                host = [h.pin_memory() for h in host]
            for tensor, copy in zip(tensors, host):
                tensor.data = copy
            self.tensors.append(tensors)
            self.host.append(host)
            module_hooks.attach(module, STREAM_HOOK, _StreamHook(self, index))

    def _load(self, index: int) -> None:
        """Start copying module ``index`` to the device (on the side stream when there is one)."""
        if index in self.pending:
            return
        if self.stream is None:
            self.pending[index] = ([h.to(self.device) for h in self.host[index]], None)
            return
        with torch.cuda.stream(self.stream):
            copies = [h.to(self.device, non_blocking=True) for h in self.host[index]]
            done = torch.cuda.Event()
            done.record(self.stream)
        self.pending[index] = (copies, done)

    @torch.compiler.disable
    def _before(self, index: int) -> None:
        """Module ``index`` is about to run: point it at its device copy, prefetch the next.
        Never traced: a compiled block (``--fast``, the packs' compile nodes) calls its hooks
        inside its compiled forward, where swapping ``.data`` from host to device copies failed
        to trace on CUDA (FakeTensor: "found two different devices cpu, cuda:0")."""
        self._load(index)
        copies, done = self.pending.pop(index)
        if done is not None:
            current = torch.cuda.current_stream(self.device)
            current.wait_event(done)
            for copy in copies:  # allocated on the side stream, used on this one
                copy.record_stream(current)
        for tensor, copy in zip(self.tensors[index], copies):
            tensor.data = copy
        if len(self.modules) > 1:
            self._load((index + 1) % len(self.modules))

    @torch.compiler.disable
    def _after(self, index: int) -> None:
        """Module ``index`` has run: point it back at its host copy (never traced, as ``_before``)."""
        for tensor, copy in zip(self.tensors[index], self.host[index]):
            tensor.data = copy

    def remove(self) -> None:
        """Take the per-module hooks off (the modules stay where they are: on the host)."""
        for module in self.modules:
            module_hooks.detach(module, STREAM_HOOK)
        self.pending.clear()
