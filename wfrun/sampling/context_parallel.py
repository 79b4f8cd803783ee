"""One video on several GPUs: the transformer's token sequence split over N processes.

``wfrun run W.json --gpus N`` starts N processes (``wfrun.jobs.gpus``), one per GPU, that
run the same workflow in step; each calls :func:`activate` once, and from then on
:func:`wfrun.sampling.forward.transformer_forward` — the one forward of both the wrapper's
sampler and ComfyUI's KSampler family — gives each process ``1/N`` of the tokens: after the
patch embedding the hidden states, RoPE tables and per-token modulation are split along
the sequence (:meth:`ContextParallel.split`), every block works on its share, and
self-attention sees the whole sequence through diffusers' context-parallel attention
(Ulysses: an all-to-all trades the sequence split for a head split around the attention
kernel; ring: key/value shards passed round the ranks, for sequences too long for one
card). After the last block the shares are gathered (:meth:`ContextParallel.gather`) and
every process holds the full prediction, so everything else (schedulers, guidance, VAE)
runs unchanged and identically on every rank. Cross-attention needs no exchange: its keys
are the prompt, which each rank holds whole.

Why not ``ModelMixin.enable_parallelism`` (diffusers 0.42)? It was tried first and does
not fit here:

- it cannot start on a CPU (it picks the device as ``rank % torch.accelerator.device_count()``,
  which divides by zero with no accelerator), so the gloo test could not use it;
- its split and gather are hooks at the module boundaries of diffusers' *own*
  ``WanTransformer3DModel.forward`` (``_cp_plan``): the per-token timestep is split in a hook
  on the model's ``forward``, which wfrun's block-by-block forward never calls; RIFLEx and
  the reference latent compute their RoPE tables without the ``rope`` module the plan
  splits; and the per-token modulation and TeaCache's residuals would be left whole.

What *is* diffusers' is the attention: ``dispatch_attention_fn(..., parallel_config=...)``
with a ``ParallelConfig`` built here over a device mesh of the existing process group
(``ulysses_anything``/``ring_anything`` when the token count does not split evenly). That
works on gloo with PyTorch's SDPA for Ulysses; ring needs a kernel that returns the
log-sum-exp (cuDNN/flash on CUDA), so on a CPU only Ulysses runs.

VACE contexts are split like the video's tokens (the VACE blocks' self-attention shared
the same way); with several prompts spread over the video each rank cross-attends its
tokens to their prompts (:meth:`ContextParallel.local_spans`). Enhance-A-Video gathers q and
k of each self-attention to score whole frames, and the wrapper's frame-chunked
self-attention (``video_attention_split_steps``) gathers keys and values, its chunks
crossing the ranks' shares: both correct, at the cost of one all-gather per block on the
steps that use them.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)

MODES = ("ulysses", "ring")
#: Attention kernels that return the log-sum-exp ring attention needs, by device type.
_RING_KERNEL = {"cuda": "_native_cudnn"}


class ContextParallelError(ValueError):
    """A setting ``--gpus`` cannot serve: ring attention without a kernel that returns the
    log-sum-exp, an attention backend without context parallelism, EasyCache."""

    #: not a node's fault: the engine lets it through to ``--gpus``, which makes it a usage error
    stops_the_run = True


@dataclass
class ContextParallel:
    """This process's share of one context-parallel group (all ranks of the default group)."""

    rank: int
    world: int
    mode: str
    device_type: str
    _mesh: Any = None
    _configs: dict[bool, Any] = field(default_factory=dict)

    # -- sequence split and gather --------------------------------------------------
    def sizes(self, total: int) -> list[int]:
        """How many of ``total`` tokens each rank holds (``torch.tensor_split``'s rule)."""
        base, extra = divmod(total, self.world)
        return [base + (1 if r < extra else 0) for r in range(self.world)]

    def split(self, tensor: torch.Tensor, dim: int = 1) -> torch.Tensor:
        """This rank's share of ``tensor`` along ``dim``."""
        return torch.tensor_split(tensor, self.world, dim=dim)[self.rank].contiguous()

    def local_spans(self, spans: list[tuple[int, int, int]], total: int) -> list[tuple[int, int, int]]:
        """Token ranges ``(start, end, tag)`` of the whole sequence, cut to this rank's share and
        counted from its first token (ranges outside it are dropped)."""
        sizes = self.sizes(total)
        first = sum(sizes[:self.rank])
        last = first + sizes[self.rank]
        return [(max(a, first) - first, min(b, last) - first, tag) for a, b, tag in spans
                if min(b, last) > max(a, first)]

    def gather(self, tensor: torch.Tensor, total: int, dim: int = 1) -> torch.Tensor:
        """Every rank's share of a ``total``-long sequence, back in order (on every rank)."""
        sizes = self.sizes(total)
        longest = max(sizes)
        local = tensor.movedim(dim, 0).contiguous()
        if local.shape[0] < longest:  # shares differ by one token at most: pad, gather, trim
            local = torch.cat([local, local.new_zeros(longest - local.shape[0], *local.shape[1:])])
        parts = [torch.empty_like(local) for _ in range(self.world)]
        dist.all_gather(parts, local)
        return torch.cat([p[:n] for p, n in zip(parts, sizes)]).movedim(0, dim)

    # -- attention ------------------------------------------------------------------
    def config(self, total: int, heads: int) -> Any:
        """diffusers' ``ParallelConfig`` for a sequence of ``total`` tokens and ``heads``
        heads: the plain Ulysses/ring when both split evenly, else their "anything" forms."""
        from diffusers.models._modeling_parallel import ContextParallelConfig, ParallelConfig

        even = total % self.world == 0 and (self.mode == "ring" or heads % self.world == 0)
        if even not in self._configs:
            if self.mode == "ulysses":
                cp = ContextParallelConfig(ulysses_degree=self.world, ulysses_anything=not even)
            else:
                cp = ContextParallelConfig(ring_degree=self.world, ring_anything=not even)
            if self._mesh is None:
                from torch.distributed.device_mesh import init_device_mesh

                self._mesh = init_device_mesh(self.device_type, cp.mesh_shape, mesh_dim_names=cp.mesh_dim_names)
            config = ParallelConfig(context_parallel_config=cp)
            config.setup(self.rank, self.world, torch.device(self.device_type), mesh=self._mesh)
            self._configs[even] = config
        return self._configs[even]

    @contextlib.contextmanager
    def attached(self, transformer: Any, total: int) -> Iterator[None]:
        """Each block's self-attention processor with the config for ``total`` tokens, for
        one forward (the token count changes with the workflow's sizes); as it was after."""
        heads = int(transformer.config.num_attention_heads)
        config = self.config(total, heads)
        saved = []
        blocks = list(transformer.blocks) + list(getattr(transformer, "vace_blocks", None) or [])
        try:
            for block in blocks:
                processor = block.attn1.processor
                saved.append((processor, getattr(processor, "_parallel_config", None),
                              getattr(processor, "_attention_backend", None)))
                _check_backend(processor, self.mode, self.device_type)
                processor._parallel_config = config
            yield
        finally:
            for processor, config_before, backend_before in saved:
                processor._parallel_config = config_before
                processor._attention_backend = backend_before


def _check_backend(processor: Any, mode: str, device_type: str) -> None:
    from diffusers.models.attention_dispatch import AttentionBackendName, _AttentionBackendRegistry

    backend = getattr(processor, "_attention_backend", None)
    name = AttentionBackendName(backend) if backend is not None else _AttentionBackendRegistry.get_active_backend()[0]
    if mode == "ring" and name == AttentionBackendName.NATIVE:
        kernel = _RING_KERNEL.get(device_type)
        if kernel is None:
            raise ContextParallelError(
                f"ring attention needs an attention kernel that returns the log-sum-exp, which {device_type} "
                "does not have here; use Ulysses (the default) on this machine")
        processor._attention_backend = kernel
        return
    if not _AttentionBackendRegistry._is_context_parallel_available(name):
        usable = ", ".join(sorted(_AttentionBackendRegistry._supports_context_parallel))
        raise ContextParallelError(f"the attention backend {name.value!r} cannot be split over GPUs; "
                                   f"choose one of: {usable} (or PyTorch SDPA, the default)")


_ACTIVE: ContextParallel | None = None


def activate(mode: str = "ulysses") -> ContextParallel:
    """Split every following transformer forward of this process over the default process
    group (``torch.distributed`` must be initialised: one process per GPU)."""
    global _ACTIVE
    if mode not in MODES:
        raise ContextParallelError(f"context parallelism {mode!r}: choose one of {', '.join(MODES)}")
    if not dist.is_initialized():
        raise RuntimeError("context parallelism needs torch.distributed initialised first")
    device_type = "cuda" if dist.get_backend() == "nccl" else "cpu"
    _ACTIVE = ContextParallel(dist.get_rank(), dist.get_world_size(), mode, device_type)
    return _ACTIVE


def deactivate() -> None:
    global _ACTIVE
    _ACTIVE = None


def active() -> ContextParallel | None:
    """The context-parallel group of this process, or None (the usual one-GPU run)."""
    return _ACTIVE if _ACTIVE is not None and _ACTIVE.world > 1 else None
