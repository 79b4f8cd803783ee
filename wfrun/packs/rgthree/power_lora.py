"""rgthree's Power Lora Loader (``py/power_lora_loader.py``): any number of LoRAs on a MODEL
(and CLIP), each row ``{on, lora, strength, strengthTwo}``.

Where the rows come from: the pack's frontend draws one widget per LoRA row and queues each
as an input ``lora_1``, ``lora_2``, … holding that dict; an API-format file has them so. A
UI file saves them only by position in ``widgets_values`` — a spacer, the header
(``{"type": "PowerLoraLoaderHeaderWidget"}``), one dict per row, the "add" button's ``{}``
and an empty string — with no names, so the spec has no widget slots for them and this
executor reads its own node's saved values from the workflow (``ctx.workflow_json``,
following the node id through subgraph definitions). Every dict with ``on``, ``lora`` and
``strength`` is a row, in saved order (the order the pack's loop applies them in).

Per row, as the pack does: ``strength`` is the model strength; ``strengthTwo`` (when set)
the CLIP strength, else the CLIP strength is ``strength``; with no CLIP connected the CLIP
strength is 0. A row that is off, or whose strengths are both 0, is skipped. Each applied
row adds a LoRA patch as core ``LoraLoader`` does (nothing merged until a sampler runs).

Differences, written down: the pack matches a row's file name loosely (without folders or
extension) and silently skips a LoRA it cannot find; wfrun looks the name up as core
loaders do and reports a missing file on the node, because a video made without the LoRA
the file asks for is rarely what the user wanted. Wan LoRAs carry no UMT5 layers; a row
whose file does, with a non-zero CLIP strength, is refused (as wfrun's ``LoraLoader``).
"""

from __future__ import annotations

from typing import Any, Callable

from wfrun.models.handles import CoreModel, LoraPatch
from wfrun.models.header import CheckpointError
from wfrun.models.lora_files import LoraError, check_fits, lora_module_names, prefetch_many
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.lora_ahead import merge_model_loras_ahead
from wfrun.nodes.models import resolve
from wfrun.nodes.saved import saved_widgets

#: Most rows one node may hold (the frontend has no limit; real files hold a handful).
MAX_ROWS = 64
_TEXT_PREFIXES = ("text_encoder", "te_", "lora_te")


def is_row(value: Any) -> bool:
    """Whether a saved or queued value is one LoRA row of the node."""
    return isinstance(value, dict) and {"on", "lora", "strength"} <= value.keys()


def rows_of(ctx: ExecContext, queued: dict[str, Any]) -> list[dict]:
    """The LoRA rows in the order the pack applies them: the queued ``lora_N`` inputs of an
    API file, else the node's saved widget values."""
    rows = [v for k, v in queued.items() if k.upper().startswith("LORA_") and is_row(v)]
    if not rows:
        rows = [v for v in saved_widgets(ctx.workflow_json, ctx.node_id) if is_row(v)]
    if len(rows) > MAX_ROWS:
        raise NodeInputError("lora_1", f"{len(rows)} LoRA rows; wfrun applies at most {MAX_ROWS}")
    return rows


def _strength(row: dict, key: str) -> float:
    value = row.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise NodeInputError("lora", f"row {row.get('lora')!r}: {key} is {value!r}, expected a number")
    return float(value)


def row_strengths(row: dict, has_clip: bool) -> tuple[float, float]:
    """(model strength, CLIP strength) of one row, by the pack's rule."""
    model = _strength(row, "strength")
    if not has_clip:
        return model, 0.0
    return model, (model if row.get("strengthTwo") is None else _strength(row, "strengthTwo"))


def read_loras_ahead(ctx: ExecContext, constants: dict[str, Any]) -> Callable[[], None]:
    """The node's prefetch: the files of its rows that are on with a model strength, read
    while the run's first nodes work (``models.lora_files.prefetch_many``)."""
    reads = []
    for row in rows_of(ctx, constants):
        name, strength = row.get("lora"), row.get("strength")
        if row.get("on") and isinstance(name, str) and name and isinstance(strength, (int, float)) and strength != 0:
            try:
                reads.append((resolve(ctx, "loras", name, "lora"), strength))
            except NodeInputError:  # a missing file is named at the node's turn
                continue
    return prefetch_many(reads)


@executor("Power Lora Loader (rgthree)", prefetch=read_loras_ahead, ahead=merge_model_loras_ahead)
def power_lora_loader(ctx: ExecContext, model: Any = None, clip: Any = None, **queued: Any) -> tuple:
    if model is not None and not isinstance(model, CoreModel):
        raise NodeInputError("model", f"expected a MODEL from a core loader, got {type(model).__name__}")
    for row in rows_of(ctx, queued):
        strength_model, strength_clip = row_strengths(row, clip is not None)
        if not row.get("on") or (strength_model == 0 and strength_clip == 0) or model is None:
            continue
        name = row.get("lora")
        if not isinstance(name, str) or not name:
            raise NodeInputError("lora", f"a row that is on names no LoRA file ({name!r})", "pick a LoRA or turn the row off")
        path = resolve(ctx, "loras", name, "lora")
        try:
            check_fits(model.transformer, path)
            text_layers = [n for n in lora_module_names(path) if n.startswith(_TEXT_PREFIXES)]
        except (LoraError, CheckpointError) as err:
            raise NodeInputError("lora", f"{name}: {err}") from None
        if text_layers and strength_clip != 0:
            raise NodeInputError("lora", f"{path.name} has {len(text_layers)} text-encoder layers, which wfrun does "
                                 "not apply to UMT5", "set this row's CLIP strength (strengthTwo) to 0")
        if strength_model != 0:
            model = model.patched(loras=model.loras + (LoraPatch(path=path, strength=strength_model),))
    return (model, clip)
