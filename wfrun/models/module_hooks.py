"""Hooks on torch modules through diffusers' ``HookRegistry``, attached and removed cleanly.

wfrun changes how a model runs without flags in the model: a feature is a
``diffusers.hooks.ModelHook`` registered under a name in the module's ``HookRegistry``
(the ``_diffusers_hook`` attribute diffusers itself uses for offloading and caches). Two
lifetimes:

- **Attached with the model** (until removed): what a loader or placement sets up once and
  the sampler must find later — the control LoRA (:data:`CONTROL_LORA`, the pack's
  ``packs/wanvideo/control_lora.py``) and block streaming (:data:`BLOCK_STREAM`,
  ``models/block_stream.py``). Find them with :func:`find`.
- **Attached for one sampling pass** (``sampling/hooks.py``): registered on entry and removed
  on exit, also when the pass raises.

:func:`detach` leaves a module as it was before its first hook: when its registry is empty
again the registry and the ``forward`` attribute diffusers left on the instance are deleted,
so ``vars(module)`` and the ``state_dict`` are unchanged.
"""

from __future__ import annotations

from typing import Any

from diffusers.hooks import HookRegistry, ModelHook

#: The :class:`~wfrun.packs.wanvideo.control_lora.ControlLora` of a transformer with a
#: control LoRA (``ControlLora`` is a ``ModelHook`` with ``set(enabled)``).
CONTROL_LORA = "wfrun.control_lora"
#: The :class:`~wfrun.models.block_stream.BlockStreamer` of a transformer with block swap.
BLOCK_STREAM = "wfrun.block_stream"

_REGISTRY = "_diffusers_hook"  # diffusers' attribute name (HookRegistry.check_if_exists_or_initialize)


def attach(module: Any, name: str, hook: ModelHook) -> ModelHook:
    """Register ``hook`` on ``module`` under ``name`` (a name already there is an error)."""
    HookRegistry.check_if_exists_or_initialize(module).register_hook(hook, name)
    return hook


def find(module: Any, name: str) -> Any:
    """The hook registered on ``module`` under ``name``, or None (also for non-modules)."""
    registry = getattr(module, _REGISTRY, None) if module is not None else None
    return registry.get_hook(name) if registry is not None else None


def detach(module: Any, name: str) -> None:
    """Remove the hook ``name`` from ``module`` (nothing when absent); a module left without
    hooks loses the registry and the instance ``forward`` diffusers put there."""
    registry = getattr(module, _REGISTRY, None)
    if registry is None:
        return
    registry.remove_hook(name, recurse=False)
    if registry.hooks:
        return
    delattr(module, _REGISTRY)  # (a compiled module's OptimizedModule keeps it on the inner module)
    forward = module.__dict__.get("forward")
    own = getattr(type(module), "forward", None)
    if forward is not None and getattr(forward, "__self__", None) is module and \
            getattr(forward, "__func__", None) is own:
        del module.__dict__["forward"]  # the bound class method diffusers restored: as never hooked
