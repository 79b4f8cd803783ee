"""rgthree's Context (``py/context.py``) and Context Switch (``py/context_switch.py``).

A context (``RGTHREE_CONTEXT``) is a plain dict, as in the pack (``py/context_utils.py``):
one key per field of the pack's full context (model, clip, vae, positive, negative, latent,
images, seed, steps, …), each holding a value or ``None``.

* Context (rgthree) builds a new context: each field takes its own input when that input
  is given and not ``None``, else the field of ``base_ctx``, else ``None``. Its outputs are
  the context then the "original" fields (model, clip, vae, positive, negative, latent,
  images, seed).
* Context Switch (rgthree) outputs the first context among its ``ctx_NN`` inputs that is
  not empty (not absent, and not all ``None``), in the order of their names, as the
  frontend names them ``ctx_01``, ``ctx_02``, …; with none, the context and every field
  are ``None``. Workflows use it to pick a model from whichever branch is not muted or
  bypassed: an input fed by a muted node is absent, as in ComfyUI, so its context is empty.
"""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

#: The pack's full context fields (``_all_context_input_output_data`` less ``base_ctx``).
ALL_FIELDS = ("model", "clip", "vae", "positive", "negative", "latent", "images", "seed", "steps",
              "step_refiner", "cfg", "ckpt_name", "sampler", "scheduler", "clip_width", "clip_height",
              "text_pos_g", "text_pos_l", "text_neg_g", "text_neg_l", "mask", "control_net", "denoise")
#: The "original" context's fields, in the order of the nodes' outputs after the context.
ORIGINAL_FIELDS = ("model", "clip", "vae", "positive", "negative", "latent", "images", "seed")


def _is_context(value: Any) -> bool:
    return value is None or isinstance(value, dict)


def new_context(base: dict | None, given: dict[str, Any]) -> dict[str, Any]:
    """Each field: the given value unless ``None``, else ``base``'s, else ``None``."""
    base = base or {}
    return {key: given[key] if given.get(key) is not None else base.get(key) for key in ALL_FIELDS}


def is_empty(context: dict | None) -> bool:
    return not context or all(v is None for v in context.values())


def original_outputs(context: dict | None) -> tuple:
    return (context, *((context or {}).get(key) for key in ORIGINAL_FIELDS))


@executor("Context (rgthree)", pure=True)
def context_node(ctx: ExecContext, base_ctx: Any = None, **inputs: Any) -> tuple:
    if not _is_context(base_ctx):
        raise NodeInputError("base_ctx", f"base_ctx: expected an rgthree context, found {type(base_ctx).__name__}")
    return original_outputs(new_context(base_ctx, {k: v for k, v in inputs.items() if k in ORIGINAL_FIELDS}))


@executor("Context Switch (rgthree)", pure=True)
def context_switch(ctx: ExecContext, **inputs: Any) -> tuple:
    for name in sorted(k for k in inputs if k.startswith("ctx_")):
        if not _is_context(inputs[name]):
            raise NodeInputError(name, f"{name}: expected an rgthree context, found {type(inputs[name]).__name__}")
        if not is_empty(inputs[name]):
            return original_outputs(inputs[name])
    return original_outputs(None)
