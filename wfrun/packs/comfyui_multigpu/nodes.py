"""``UNETLoaderMultiGPU`` and ``VAELoaderMultiGPU``: ComfyUI's UNETLoader and VAELoader with a
``device`` to load onto (spec: ``schemas/nodes/comfyui-multigpu.json``).

The pack makes these classes at start-up with ``override_class`` (``__init__.py`` from
2025-02-03, ``wrappers.py`` at 62f98ed, 2025-12-19, and later): the core class's inputs plus
an optional ``device`` from its device list (``cpu``, ``cuda:N``, ``xpu:N``, ``npu:N``,
``mlu:N``, ``mps``). Its ``override`` sets the pack's current device, calls the core
loader's own function with the other inputs unchanged, and restores the device: the file
is read and the model built exactly as the core node does, only placed on another device.

wfrun runs the core executor registered for UNETLoader / VAELoader (looked up by name:
packs do not import each other) and leaves placement to its own residency, which moves
weights to the run's device for sampling and back; placement never changes the numbers.
A device the pack could not list is refused by name, as the pack's combo would refuse it.
"""

from __future__ import annotations

import re
from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor, registered

_DEVICE = re.compile(r"^(cpu|mps|(cuda|xpu|npu|mlu):\d+)$")


def check_device(device: Any) -> None:
    if not isinstance(device, str) or not _DEVICE.match(device):
        raise NodeInputError("device", f"unknown device {device!r}", "use 'cpu' or 'cuda:N' (the pack's device list)")


def core(class_type: str, input_name: str):
    fn = registered(class_type)
    if fn is None:  # comfy_core_models is part of wfrun; only a broken install lacks it
        raise NodeInputError(input_name, f"the core {class_type} is not available in this wfrun")
    return fn


@executor("UNETLoaderMultiGPU", background=True)
def unet_loader_multigpu(ctx: ExecContext, unet_name: str, weight_dtype: str, device: str,
                         **_: Any) -> tuple:
    check_device(device)
    return core("UNETLoader", "unet_name")(ctx, unet_name=unet_name, weight_dtype=weight_dtype)


@executor("VAELoaderMultiGPU", background=True)
def vae_loader_multigpu(ctx: ExecContext, vae_name: str, device: str, **_: Any) -> tuple:
    check_device(device)
    return core("VAELoader", "vae_name")(ctx, vae_name=vae_name)
