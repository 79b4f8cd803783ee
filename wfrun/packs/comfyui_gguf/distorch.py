"""ComfyUI-MultiGPU's ``UnetLoaderGGUFDisTorchMultiGPU``: ComfyUI-GGUF's ``UnetLoaderGGUF`` with
DisTorch placement (spec: ``schemas/nodes/comfyui-multigpu.json``).

Why it lives in this pack's folder: the node *is* ComfyUI-GGUF's loader wrapped at start-up,
and packs never import each other (tests/test_layers.py), so the wrapper sits beside the
loader it calls.

The pack builds this node at start-up by wrapping ComfyUI-GGUF's loader: it calls the
loader unchanged with ``unet_name`` and then records, for that model, an allocation string
(``device``, ``virtual_vram_gb`` moved to ``cpu`` or, with ``use_other_vram``, to the other
GPUs first, and ``expert_mode_allocations`` as ``"<device>,<fraction>;..."`` before a
``#``) that its patched GGUF model patcher reads to put some GGML layers on other devices.
Layers still run the same dequantize-then-compute at every forward wherever they live, so
placement changes memory and speed, never the numbers.

wfrun loads the model exactly as its ``UnetLoaderGGUF`` does (``comfyui_gguf.load_unet``)
and leaves placement to its own residency (``models.residency``: weights move to the run's
device for sampling and back after). The placement widgets are checked against what the
pack would accept, so a value the pack would crash on is a clear error here too, and are
otherwise not used.
"""

from __future__ import annotations

import re
from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.packs.comfyui_gguf.nodes import load_unet  # same pack: see the docstring

_DEVICE = re.compile(r"^(cpu|cuda:\d+)$")
_NUMBER = re.compile(r"^\s*\d+(\.\d+)?\s*$")


def check_allocations(text: str) -> None:
    """``expert_mode_allocations``: empty, or ``device,amount`` pairs joined by ``;`` (what
    the pack's ``analyze_ggml_loading`` splits; anything else raises there)."""
    for part in filter(None, (p.strip() for p in text.split(";"))):
        device, sep, amount = part.partition(",")
        if not sep or not _DEVICE.match(device.strip()) or not _NUMBER.match(amount):
            raise NodeInputError("expert_mode_allocations", f"cannot read the allocation {part!r}",
                                 "write 'device,fraction' pairs joined by ';' (e.g. 'cuda:0,0.5;cpu,0.5'), or leave it empty")


@executor("UnetLoaderGGUFDisTorchMultiGPU", background=True, gguf_inputs=("unet_name",))
def unet_loader_gguf_distorch(ctx: ExecContext, unet_name: str, device: str, virtual_vram_gb: float,
                              use_other_vram: bool, expert_mode_allocations: str, **_: Any) -> tuple:
    # defaults above only stand for an optional input left unconnected in an API prompt; the
    # engine fills saved widgets from the spec
    if not isinstance(device, str) or not _DEVICE.match(device):
        raise NodeInputError("device", f"unknown device {device!r}", "use 'cpu' or 'cuda:N'")
    if not 0.0 <= float(virtual_vram_gb) <= 24.0:
        raise NodeInputError("virtual_vram_gb", f"{virtual_vram_gb} is outside 0..24", "give a size in GB from 0 to 24")
    check_allocations(str(expert_mode_allocations or ""))
    return (load_unet(ctx, unet_name),)
