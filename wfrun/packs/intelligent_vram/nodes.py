"""WanVideoEnhancedBlockSwap (``nodes.py``): block-swap settings for the wrapper's model.

The pack's node returns a plain dict under the wrapper's BLOCKSWAPARGS type, and the
wrapper reads from it only the keys its own WanVideoBlockSwap sets: ``blocks_to_swap``,
``offload_img_emb``, ``offload_txt_emb``, ``vace_blocks_to_swap``, and ``use_non_blocking`` /
``prefetch_blocks`` / ``block_swap_debug``, which this dict lacks, so the wrapper falls back
to its defaults (blocking copies, no prefetch, no debug log). The other keys
(``enable_cuda_optimization``, ``enable_dram_optimization``, ``auto_hardware_tuning``,
``vram_threshold_percent``, ``num_cuda_streams``, ``bandwidth_target``) are read by no code
of the wrapper: in ComfyUI they only change the node's log lines (auto tuning recomputes
the stream count and bandwidth target from the GPU, then nothing uses them) and a warning
when VRAM use is above the threshold.

So here the node is the wrapper's WanVideoBlockSwap with those four values and
``use_non_blocking`` off, built by the wrapper pack's own executor (found in the executor
registry: packs do not import each other), and the result is the same BLOCKSWAPARGS value
the wrapper's model loader and WanVideoSetBlockSwap take. Differences, all without effect
on the output: wfrun's block streamer prefetches the next swapped blocks on a side stream
by itself (``wfrun.models.placement``), so there is no stream count or bandwidth target to
set; no VRAM threshold warning is printed (wfrun's residency decides placement); and
``debug_mode`` only turns on this module's debug log line, as the pack's does for its own.
"""

from __future__ import annotations

import logging
from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor, registered

log = logging.getLogger(__name__)

#: The keys of the pack's dict that the wrapper reads; the rest are the pack's own tuning.
WRAPPER_KEYS = ("blocks_to_swap", "offload_img_emb", "offload_txt_emb", "vace_blocks_to_swap")


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise NodeInputError(name, f"{name}: expected a whole number of 0 or more, found {value!r}")
    return value


@executor("WanVideoEnhancedBlockSwap")
def wanvideo_enhanced_block_swap(ctx: ExecContext, blocks_to_swap: Any, offload_txt_emb: Any, offload_img_emb: Any,
                                 vace_blocks_to_swap: Any, debug_mode: Any, **tuning: Any) -> tuple:
    """The wrapper's BLOCKSWAPARGS from the four values it reads (see the module docs)."""
    block_swap = registered("WanVideoBlockSwap")
    if block_swap is None:  # the wrapper pack is part of wfrun; only a broken install lacks it
        raise NodeInputError("blocks_to_swap", "the WanVideoWrapper's block swap is not available in this wfrun")
    if debug_mode:
        log.debug("WanVideoEnhancedBlockSwap: blocks=%s, vace blocks=%s, settings the wrapper does not read: %s",
                  blocks_to_swap, vace_blocks_to_swap, tuning)
    return block_swap(ctx, blocks_to_swap=_count("blocks_to_swap", blocks_to_swap),
                      offload_img_emb=bool(offload_img_emb), offload_txt_emb=bool(offload_txt_emb),
                      use_non_blocking=False, vace_blocks_to_swap=_count("vace_blocks_to_swap", vace_blocks_to_swap))
