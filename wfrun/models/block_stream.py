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
"""

from __future__ import annotations

import torch
from torch import nn


class BlockStreamer:
    """Keeps ``modules`` on the host and streams each to ``device`` for its forward."""

    def __init__(self, modules: list[nn.Module], device: str | torch.device, prefetch: bool = True):
        self.modules = list(modules)
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
            module.register_forward_pre_hook(self._before(index))
            module.register_forward_hook(self._after(index))

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

    def _before(self, index: int):
        def hook(module: nn.Module, args):
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
        return hook

    def _after(self, index: int):
        def hook(module: nn.Module, args, output):
            for tensor, copy in zip(self.tensors[index], self.host[index]):
                tensor.data = copy
            return output
        return hook
