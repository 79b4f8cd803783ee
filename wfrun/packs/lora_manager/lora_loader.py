"""Lora Loader (LoraManager) (``py/nodes/lora_loader.py``): ComfyUI's LoraLoader applied for
each LoRA of an optional ``lora_stack`` and then each active row of the manager's ``loras``
widget, on ``model`` and the optional ``clip``.

As the pack between 2025-03-26 (``clip`` made optional; the outputs MODEL, CLIP,
trigger_words, loaded_loras) and its 2026-08-20 rewrite:

- ``lora_stack`` entries are ``(lora path, model strength, clip strength)`` (a LORA_STACK,
  paths as ComfyUI's LoraLoader takes them); their name is the file name without extension.
- ``loras`` rows (see :mod:`.wanvideo_lora_select` for the two saved forms and the name
  lookup): inactive rows are skipped; ``strength`` is the model strength, ``clipStrength``
  the CLIP one (the model strength when the row has none).
- Each LoRA goes through ComfyUI's LoraLoader (wfrun's ``LoraLoader`` executor, found in the
  registry): nothing is read for a LoRA at strength 0 on both halves, as ComfyUI's loader
  returns early; without a ``clip`` only the model half applies.
- ``trigger_words``: the LoRAs' Civitai trained words (the manager's sidecar) joined by
  ``",, "``. ``loaded_loras``: ``<lora:name:strength>`` per LoRA, or
  ``<lora:name:strength:clip_strength>`` when the two differ by more than 0.001; a row's
  strengths are written as Python writes floats, a stack's as the stack holds them; joined
  by spaces.
- ``text`` is the widget's editing aid: the node never reads it.

A save from before 2025-03-26 (``clip`` required; other outputs, a ``", "`` join) or from
the 2026-08-20 rewrite on (strengths always floats, a name-syntax setting) is refused on
``text`` rather than run with this version's rules.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from wfrun.models.paths import list_models
from wfrun.nodes.executor import ExecContext, NodeInputError, executor, registered
from wfrun.nodes.models import resolve, roots_of
from wfrun.packs.lora_manager.wanvideo_lora_select import (MAX_ROWS, active_rows, find_lora, strip_extension,
                                                            trigger_words)

#: The version range these rules are read from (signature dates, see the module docstring).
FIRST_DATE, REWRITE_DATE = "2025-03-26", "2026-08-20"


def _number(input_name: str, what: str, value: Any) -> float:
    if isinstance(value, bool):
        raise NodeInputError(input_name, f"{what}: {value!r} is not a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise NodeInputError(input_name, f"{what}: {value!r} is not a number") from None


def _shown(name: str, model: Any, clip: Any) -> str:
    """The pack's ``<lora:…>`` entry: it writes ``"name: m[,c]"`` and splits it on ``":"``
    and ``","`` again, so the name is what comes before the first colon."""
    head = f"{name}: {model}" if abs(float(model) - float(clip)) <= 0.001 else f"{name}: {model},{clip}"
    parts = head.split(":")
    strengths = [s.strip() for s in parts[1].strip().split(",")]
    return f"<lora:{parts[0]}:{':'.join(strengths[:2])}>"


@executor("Lora Loader (LoraManager)")
def lora_loader_lm(ctx: ExecContext, model: Any, text: Any = None, clip: Any = None, lora_stack: Any = None,
                   loras: Any = None, **_: Any) -> tuple:
    date = ctx.saved_date
    if date is not None and not FIRST_DATE <= date < REWRITE_DATE:
        raise NodeInputError("text", f"this node was saved with the LoRA Manager's version of {date}; wfrun runs "
                             f"the Lora Loader as it was from {FIRST_DATE} until its {REWRITE_DATE} rewrite",
                             "re-create the node in ComfyUI with a LoRA Manager of that range, or use LoraLoader")
    load = registered("LoraLoader")
    if load is None:  # core's loader is part of wfrun; only a broken install lacks it
        raise NodeInputError("model", "ComfyUI's LoraLoader is not available in this wfrun")
    words: list[str] = []
    shown: list[str] = []

    def apply(input_name: str, rel: str, strength_model: float, strength_clip: float) -> None:
        nonlocal model, clip
        if strength_model == 0 and strength_clip == 0:
            return
        try:
            model, clip = load(ctx, model=model, clip=clip, lora_name=rel, strength_model=strength_model,
                               strength_clip=strength_clip if clip is not None else 0.0)
        except NodeInputError as err:
            raise NodeInputError(input_name, f"LoRA {rel!r}: {err}", err.hint) from None

    folders = roots_of(ctx).folders("loras")
    files: list[str] | None = None

    if lora_stack:
        if not isinstance(lora_stack, (list, tuple)) or len(lora_stack) > MAX_ROWS:
            raise NodeInputError("lora_stack", "expected a LORA_STACK (a list of (path, strength, clip strength))")
        for entry in lora_stack:
            if not isinstance(entry, (list, tuple)) or len(entry) != 3 or not isinstance(entry[0], str):
                raise NodeInputError("lora_stack", f"a LORA_STACK entry is (path, strength, clip strength), found {entry!r}")
            path, strength_model, strength_clip = entry
            sm = _number("lora_stack", path, strength_model)
            sc = _number("lora_stack", path, strength_clip)
            apply("lora_stack", path, sm, sc)
            name = strip_extension(PurePosixPath(path.replace("\\", "/")).name)
            if files is None:
                files = list_models(folders)
            found = find_lora(files, name)
            if found is not None:
                words += trigger_words(resolve(ctx, "loras", found, "lora_stack"))
            shown.append(_shown(name, strength_model, strength_clip))

    for row, name, rel in active_rows(ctx, loras):
        sm = _number("loras", f"LoRA {name!r}: strength", row.get("strength"))
        sc = _number("loras", f"LoRA {name!r}: clipStrength", row.get("clipStrength", sm))
        apply("loras", rel, sm, sc)
        words += trigger_words(resolve(ctx, "loras", rel, "loras"))
        shown.append(_shown(name, sm, sc))

    return (model, clip, ",, ".join(words), " ".join(shown))
