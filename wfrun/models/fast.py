"""The fast path of a Wan transformer: fp8 x fp8 block matmuls, optionally compiled blocks.

Two ways in, one implementation: a workflow that asks for the packs' fast fp8
(``fp8_e4m3fn_fast`` / ``fp8_e4m3fn_fast_no_ffn`` on WanVideoModelLoader, ``fp8_e4m3fn_fast``
on UNETLoader) gets fp8 matmuls, as the packs give it; ``wfrun run --fast`` gets them for
any model (a bf16 or fp16 file is quantized per output row on load) and, on CUDA, the
repeated blocks compiled (diffusers' ``compile_repeated_blocks``) so the activations'
quantization fuses into the kernels around it. ``--fast`` also runs the blocks' self-attention
in fp8 (``models.fp8_attention``: cuDNN's fp8 SDPA on Hopper, where the frontend is
installed); a workflow's own fast choice does not, as the packs keep their attention. On a
GPU without fp8 tensor cores the model runs as loaded, with a notice.
"""

from __future__ import annotations

import logging
from typing import Any

from torch import nn

from wfrun.models.compile import compile_blocks as compile_repeated
from wfrun.models.fp8 import fp8_matmul_supported, use_fp8_matmuls
from wfrun.models.fp8_attention import fp8_attention_supported, use_fp8_attention

log = logging.getLogger(__name__)

#: Quantization names (WanVideoModelLoader's ``quantization``, UNETLoader's ``weight_dtype``)
#: that ask for fp8 matmuls, and whether the FFN is left out.
FAST_CHOICES = {"fp8_e4m3fn_fast": False, "fp8_e4m3fn_scaled_fast": False, "fp8_e4m3fn_fast_no_ffn": True}


def wants_fast(choice: str | None, run_fast: bool) -> tuple[bool, bool]:
    """(fp8 matmuls?, leave the FFN out?) for a loader's quantization choice and ``--fast``."""
    if choice in FAST_CHOICES:
        return True, FAST_CHOICES[choice]
    return run_fast, False


def make_fast(transformer: nn.Module, device: Any, *, skip_ffn: bool = False, compile_blocks: bool = False,
              fp8_attention: bool = False) -> int:
    """fp8 matmuls in ``transformer``'s blocks where ``device`` has them (and, with
    ``fp8_attention``, fp8 self-attention where it has that); returns how many linears run in
    fp8 (0 where the device cannot, with a notice)."""
    if not fp8_matmul_supported(device):
        log.warning("fp8 matmuls need a GPU of compute capability 8.9 or newer; %s runs the model as loaded", device)
        return 0
    count = use_fp8_matmuls(transformer, skip_ffn=skip_ffn)
    if fp8_attention:  # before compiling: the compiled blocks trace the processors they have
        if fp8_attention_supported(device):
            use_fp8_attention(transformer)
        else:
            log.info("fp8 attention needs a Hopper or Blackwell GPU and nvidia-cudnn-frontend (pip install "
                     "'wfrun[gpu]'); self-attention stays in PyTorch's SDPA")
    if compile_blocks:
        compile_repeated(transformer, device)
    return count
