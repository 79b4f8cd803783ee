"""Which diffusers attention backend a pack's attention choice can use on this machine.

The wrapper's ``attention_mode`` and KJNodes' SageAttention patch name kernels that need a
CUDA device and, most of them, a package (``sageattention``, ``flash_attn``); where either
is missing the model keeps PyTorch's SDPA, with a notice — the run goes on, as the packs'
own fallbacks let it. :class:`AttentionOverride` is another backend for some blocks and
steps (applied by a hook of the sampling pass, ``sampling.hooks``)."""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


def usable_backend(backend: str, package: str | None, device: Any, asked: str) -> str:
    """``backend`` when ``device`` is CUDA and ``package`` (if any) is installed, else
    ``"native"`` with a notice naming what was ``asked`` for."""
    if backend == "native":
        return backend
    if not str(device).startswith("cuda") or (package and importlib.util.find_spec(package) is None):
        log.info("attention %s is not available here; using PyTorch SDPA", asked)
        return "native"
    return backend


@dataclass(frozen=True)
class AttentionOverride:
    """Another attention backend for the self-attention of some blocks at some steps (the
    wrapper's WanVideoSetAttentionModeOverride): ``backend`` (a diffusers backend name) in
    steps ``start_step <= step < end_step`` on ``blocks`` (block indices; None: all);
    ``verbose`` logs each step it acts on."""

    backend: str
    start_step: int = 0
    end_step: int = 10000
    blocks: tuple[int, ...] | None = None
    verbose: bool = False

    def active(self, step: int) -> bool:
        return self.start_step <= int(step) < self.end_step
