"""WanVideo Lora Select (LoraManager) (``py/nodes/wanvideo_lora_select.py``): the wrapper's
LoRA list (WANVIDLORA) from the LoRA rows the manager's widget keeps.

As the pack:

- ``loras`` holds rows ``{"name", "strength", "active", "clipStrength", …}`` (a list, or
  ``{"__value__": [...]}`` as newer saves wrap it; in a UI file it is the node's saved
  widget value after ``text``, read from there since its custom widget type is not one
  wfrun binds by position); inactive rows are skipped, the others
  join the chain after ``prev_lora`` in order, each at its ``strength`` (a strength of 0
  stays in the chain and merges nothing). ``text`` is only the widget's editing aid (the
  frontend turns ``<lora:name:strength>`` there into rows): the node never reads it.
- A row names its file without extension, maybe with sub-folders; the manager finds it
  among every LoRA under its folders by file name (first the name alone, then
  ``folder/name``), then, for a name with folders, by base name (preferring a file under
  that folder). Here the same rules over the files in the run's ``loras`` folders, in
  ComfyUI's folder order, sorted by path within each folder (the manager's own scan order
  is its cache's).
- ``trigger_words``: the Civitai trained words the manager keeps for each file
  (``civitai.trainedWords`` in its ``<file>.metadata.json`` sidecar), joined by ``",, "``;
  empty when there is no sidecar. ``active_loras``: ``<lora:name:strength>`` per active
  row, ``<lora:name:strength:clip_strength>`` when the two differ by more than 0.001,
  numbers written as Python writes floats, joined by spaces.
- ``merge_loras`` off means the wrapper applies the LoRAs unmerged, at sampling time; wfrun
  merges them either way (the same weights), as it does for the wrapper's own nodes.
  ``low_mem_load`` is kept on each entry (off when ``merge_loras`` is off, as the pack).

Each entry is made by the wrapper pack's own WanVideoLoraSelect executor (found in the
executor registry: packs do not import each other), so the list is exactly the wrapper's
LoRA type. A ``blocks`` selection (WanVideoLoraBlockEdit) is refused: wfrun does not run
that node.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path, PurePosixPath
from typing import Any, Iterator

from wfrun.models.paths import list_models
from wfrun.nodes.executor import ExecContext, NodeInputError, executor, registered
from wfrun.nodes.models import resolve, roots_of
from wfrun.nodes.saved import saved_widgets

log = logging.getLogger(__name__)

#: The extensions the manager strips from a LoRA name.
LORA_EXTENSIONS = (".safetensors", ".ckpt", ".pt", ".bin")
#: A sidecar bigger than this is not the manager's metadata.
MAX_METADATA_BYTES = 4 * 1024 * 1024
#: More rows than any LoRA stack holds.
MAX_ROWS = 256


def strip_extension(name: str) -> str:
    lowered = name.lower()
    for ext in LORA_EXTENSIONS:
        if lowered.endswith(ext):
            return name[:-len(ext)]
    return name


def saved_rows(ctx: ExecContext) -> Any:
    """The ``loras`` widget's value from the node's saved widgets (a UI file): the last
    list of rows (or ``{"__value__": [...]}``) there. Its custom widget type is no widget
    wfrun binds by position, so the executor reads it itself."""
    for value in reversed(saved_widgets(ctx.workflow_json, ctx.node_id)):
        if isinstance(value, list) and all(isinstance(v, dict) for v in value):
            return value
        if isinstance(value, dict) and "__value__" in value:
            return value
    return None


def rows_of(loras: Any) -> list[dict]:
    """The rows of the ``loras`` widget, in either saved form."""
    if isinstance(loras, dict) and "__value__" in loras:
        loras = loras["__value__"]
    if loras is None:
        return []
    if not isinstance(loras, list) or not all(isinstance(r, dict) for r in loras):
        raise NodeInputError("loras", f"expected the LoRA Manager's list of LoRA rows, found {type(loras).__name__}")
    if len(loras) > MAX_ROWS:
        raise NodeInputError("loras", f"{len(loras)} LoRA rows; wfrun takes at most {MAX_ROWS}")
    return loras


def find_lora(files: list[str], name: str) -> str | None:
    """The relative path (posix) among ``files`` that the manager's name lookup picks."""
    wanted = strip_extension(name.replace("\\", "/"))
    has_path = "/" in wanted
    base = PurePosixPath(wanted).name
    fallback = None
    for rel in files:
        path = PurePosixPath(rel)
        stem = strip_extension(path.name)
        folder = str(path.parent) if str(path.parent) != "." else ""
        if wanted == stem or wanted == (f"{folder}/{stem}" if folder else stem):
            return rel
        if has_path and stem == base:
            if folder and wanted.startswith(folder + "/"):
                fallback = rel
            elif fallback is None:
                fallback = rel
    return fallback


def trigger_words(path: Path) -> list[str]:
    """``civitai.trainedWords`` of the manager's sidecar next to ``path``, if there is one."""
    sidecar = path.with_name(strip_extension(path.name) + ".metadata.json")
    try:
        if not sidecar.is_file() or sidecar.stat().st_size > MAX_METADATA_BYTES:
            return []
        data = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    civitai = data.get("civitai") if isinstance(data, dict) else None
    words = civitai.get("trainedWords") if isinstance(civitai, dict) else None
    return [w for w in words if isinstance(w, str)] if isinstance(words, list) else []


def active_rows(ctx: ExecContext, loras: Any) -> Iterator[tuple[dict, str, str]]:
    """``(row, name, file)`` of each row that is on, in order (the queued ``loras`` value, else
    the node's saved widget), ``file`` the LoRA's path in the loras folders as the pack finds
    it by name; a row without a name or whose file is missing is refused on ``loras``."""
    folders = roots_of(ctx).folders("loras")
    files: list[str] | None = None
    for row in rows_of(loras if loras is not None else saved_rows(ctx)):
        if not row.get("active", False):
            continue
        name = row.get("name")
        if not isinstance(name, str) or not name:
            raise NodeInputError("loras", f"a LoRA row without a name: {row!r}")
        if files is None:
            files = list_models(folders)
        rel = find_lora(files, name)
        if rel is None:
            raise NodeInputError("loras", f"LoRA {name!r} not found in the loras folders searched: "
                                 + (", ".join(str(f) for f in folders) or "none"),
                                 "put the file in a loras folder, or switch its row off")
        yield row, name, rel


def _strength(row: dict, key: str, default: Any) -> float:
    try:
        return float(row.get(key, default))
    except (TypeError, ValueError):
        raise NodeInputError("loras", f"LoRA {row.get('name')!r}: {key} {row.get(key)!r} is not a number") from None


@executor("WanVideo Lora Select (LoraManager)")
def wanvideo_lora_select_lm(ctx: ExecContext, low_mem_load: Any, merge_loras: Any, text: Any = None,
                            loras: Any = None, prev_lora: Any = None, blocks: Any = None, **_: Any) -> tuple:
    select = registered("WanVideoLoraSelect")
    if select is None:  # the wrapper pack is part of wfrun; only a broken install lacks it
        raise NodeInputError("loras", "the WanVideoWrapper's LoRA select is not available in this wfrun")
    if blocks is not None:
        raise NodeInputError("blocks", "a block selection (WanVideoLoraBlockEdit) is not supported by wfrun",
                             "disconnect it to apply the LoRAs to every block")
    low_mem = bool(low_mem_load) and bool(merge_loras)
    chain = tuple(prev_lora or ())
    words: list[str] = []
    active: list[str] = []
    for row, name, rel in active_rows(ctx, loras):
        strength = _strength(row, "strength", None)
        clip = _strength(row, "clipStrength", strength)
        if strength != 0.0:  # the wrapper's select leaves out a 0 strength; merging it changes nothing
            chain, = select(ctx, lora=rel, strength=strength, prev_lora=chain, blocks=None, low_mem_load=low_mem)
        words += trigger_words(resolve(ctx, "loras", rel, "loras"))
        shown = f"<lora:{name}:{str(strength).strip()}>" if abs(strength - clip) <= 0.001 else \
            f"<lora:{name}:{str(strength).strip()}:{str(clip).strip()}>"
        active.append(shown)
    return (chain, ",, ".join(words), " ".join(active))
