"""Stand-ins for what a run needs and the machine lacks: tiny models, missing input files.

``--tiny-models`` serves every model file the planned nodes name with a tiny random one of
the same family (``wfrun.models.standins`` decides the family from the loader and the name,
and writes the files; where the name says no task, ``wfrun.jobs.standin_context`` finds it
in what the workflow does with the model); the names themselves stay as the workflow has them. A file of that
name among wfrun's own tiny models (the bundled workflows name those) is used as it is.

``--smoke`` also stands in for images, videos, masks and sounds that loader nodes name
(each loader executor declares them in ``input_files``) but that are not there: a small
project-made file is drawn into ``<output>/temp/smoke-inputs/`` and the node reads it
through ComfyUI's ``[temp]`` annotation. Files that are there are used as they are. Every
stand-in is listed in the run's report.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from wfrun.diagnostics import Diagnostic, Severity
from wfrun.engine.plan import Plan
from wfrun.jobs.smoke import MAX_FRAMES
from wfrun.graph.check import find_in_folders, model_folders
from wfrun.graph.model import WorkflowGraph
from wfrun.media.image import MediaPathError, resolve_inside, split_annotation
from wfrun.models.paths import ModelPathError, ModelRoots
from wfrun.engine.executors import get_executor, planned_input_files
from wfrun.jobs.standin_context import standin_hints

#: Where stand-in inputs go, inside the run's temp folder (``<output>/temp``).
INPUTS_DIR = "smoke-inputs"


class StandinWriteError(OSError):
    """The stand-ins could not be written (disk full, no permission): an environment problem."""


def tiny_model_roots(graph: WorkflowGraph, plan: Plan, source: str, *,
                     allow_pickle: bool = False) -> tuple[ModelRoots, list[str], list[Diagnostic]]:
    """The tiny models folder plus a folder of stand-ins for every other model file the
    planned nodes name; a line per stand-in, and a problem per model that has none. With
    ``allow_pickle`` (the run reads pickles) a ``.pth``/``.ckpt``/``.pt``/``.bin`` name gets a
    stand-in too, saved as a weights-only pickle, so the run goes through the pickle reader."""
    from wfrun.models.standins import (NAMED_MODEL_INPUTS, NoStandin, family_for, folder_standin_for,
                                       write_standins)
    from wfrun.models.tiny import ensure_tiny_models

    tiny_root = ensure_tiny_models()
    tiny_only = ModelRoots((tiny_root,))
    wanted, problems = [], []
    hints = standin_hints(graph, plan)  # what the workflow does with models whose names say no task

    def want(node: Any, input_name: str, folders: Any, value: str) -> None:
        """A stand-in for ``value`` unless wfrun's own tiny models have it."""
        try:
            find_in_folders(tiny_only, folders, value)
            return  # one of wfrun's own tiny files
        except ModelPathError:
            pass
        try:
            hint = hints.get((node.id, "transformer")) or hints.get((node.id, "vae"))  # family_for keeps its kind's
            standin = family_for(node.class_type, input_name, folders, value, allow_pickle=allow_pickle, hint=hint)
        except ModelPathError:
            return  # not a plain relative name: the checks report it
        except NoStandin as err:
            problems.append(Diagnostic(
                "missing-model", Severity.ERROR, f"{value!r}: {err}", file=source, node_id=node.id,
                node_title=node.title, class_type=node.class_type, input=input_name, found=value,
                expected="a model that wfrun has a tiny stand-in for",
                hint="run this workflow on the real model with --models DIR, or pick another model"))
            return
        wanted.append((node, input_name, standin))
    for node_id in plan.order:
        node = graph.node(node_id)
        if node.signature is None or get_executor(node.class_type, node.spec) is None:
            continue  # a node wfrun cannot run is reported as such
        for spec in node.signature.inputs:
            value = node.inputs.get(spec.name)
            if isinstance(value, str) and value:
                try:
                    folder_standin = folder_standin_for(node.class_type, spec.name, value)
                except (ModelPathError, NoStandin):
                    folder_standin = None  # the loader reports the bad name
                if folder_standin is not None:  # a model folder (Florence-2), not a file
                    if not (tiny_root / folder_standin.relpath).is_dir():
                        wanted.append((node, spec.name, folder_standin))
                    continue
            named = NAMED_MODEL_INPUTS.get((node.class_type, spec.name))
            if named is not None and isinstance(value, str) and value:  # a bare model name
                want(node, spec.name, named[0], value + named[1])
                continue
            folders = model_folders(node, spec)
            if not folders or not isinstance(value, str) or not value:
                continue
            if spec.options_from and spec.options and value in spec.options:
                continue  # a fixed choice such as "none", not a file
            want(node, spec.name, folders, value)
        for name in lora_rows(node):  # rgthree's Power Lora Loader keeps its LoRAs in row widgets
            want(node, "lora", "loras", name)
    if not wanted:
        return tiny_only, [], problems
    try:
        folder = write_standins([s for _, _, s in wanted], tiny_root)
    except NoStandin as err:
        problems.append(Diagnostic("missing-model", Severity.ERROR, str(err), file=source,
                                   hint="run this workflow on the real models with --models DIR"))
        return tiny_only, [], problems
    except OSError as err:
        raise StandinWriteError(f"cannot write the tiny stand-in models: {err}") from None
    lines = []
    for node, input_name, standin in wanted:
        note = f"; {standin.notice}" if standin.notice else ""
        lines.append(f"node {node.id} '{node.label}' {input_name} {standin.name!r}: {standin.family.describe()}{note}")
    return ModelRoots((tiny_root, folder)), lines, problems


def lora_rows(node: Any) -> list[str]:
    """The LoRA files of the rows a node keeps in dict widgets or inputs, those switched on:
    rgthree's Power Lora Loader (``{"on", "lora", "strength", …}``) and the LoRA Manager's
    list widget (``[{"name", "strength", "active", …}]``, maybe under ``"__value__"``, names
    without extension: the stand-in gets ``.safetensors``)."""
    values = list(node.saved_widgets) if isinstance(node.saved_widgets, list) else []
    values += list(node.inputs.values())
    names = [v["lora"] for v in values if isinstance(v, dict) and isinstance(v.get("lora"), str)
             and v["lora"] not in ("", "None") and v.get("on", True)]
    for value in values:
        rows = value.get("__value__") if isinstance(value, dict) else value
        if not isinstance(rows, list):
            continue
        for row in rows:
            if isinstance(row, dict) and isinstance(row.get("name"), str) and row["name"] and row.get("active"):
                name = row["name"]
                known = name.lower().endswith((".safetensors", ".ckpt", ".pt", ".bin"))
                names.append(name if known else f"{name}.safetensors")
    return list(dict.fromkeys(names))


def stand_in_inputs(graph: WorkflowGraph, plan: Plan, input_dir: Path, output_dir: Path,
                    write: bool = True) -> tuple[list[str], set[tuple[str, str]]]:
    """Draw a stand-in for each missing file a planned loader reads, and point the loader at
    it (in memory); a line per stand-in, and the ``(node id, input)`` pairs stood in for.
    Unsafe names are left for the checks to report. With ``write`` false (a dry run) nothing
    is drawn or changed: the lines say what would be."""
    from wfrun.media.standins import HEIGHT, KINDS, WIDTH, standin_name, write_standin

    temp = Path(output_dir) / "temp"
    lines: list[str] = []
    covered: set[tuple[str, str]] = set()
    planned = set(plan.order)
    for node, input_name, name, what in list(planned_input_files(graph, plan)):
        if what == "image_folder" and isinstance(name, str):
            line = _stand_in_folder(node, input_name, name, Path(input_dir), Path(output_dir), temp, write)
            if line:
                covered.add((node.id, input_name))
                lines.append(line)
            continue
        if what == "image_base64":
            line = _stand_in_base64(node, input_name, name, temp, write)
            if line:
                covered.add((node.id, input_name))
                lines.append(line)
            continue
        if not isinstance(name, str) or what not in KINDS:
            continue
        plain, tag = split_annotation(name)
        base = {"output": Path(output_dir), "temp": temp}.get(tag or "", Path(input_dir))
        try:
            if resolve_inside(base, plain, what).is_file():
                continue  # the user's own file
        except MediaPathError:
            continue
        frames = frames_to_draw(node.inputs) if what == "video" else 1
        if what == "image" and _mask_output_used(graph, node, planned):
            what = "masked_image"
        covered.add((node.id, input_name))
        size = {"audio": "1 s", "video": f"{WIDTH}x{HEIGHT}, {frames} frames"}.get(what, f"{WIDTH}x{HEIGHT}")
        if not write:
            path = temp / INPUTS_DIR / standin_name(plain, what, WIDTH, HEIGHT, frames)
            lines.append(f"node {node.id} '{node.label}' {input_name} {name!r} is missing: "
                         f"a stand-in {what} ({size}) would be drawn, {path}")
            continue
        try:
            path = write_standin(temp / INPUTS_DIR, plain, what, frames=frames)
        except OSError as err:
            raise StandinWriteError(f"cannot write a stand-in {what} into {temp / INPUTS_DIR}: {err}") from None
        node.inputs[input_name] = f"{INPUTS_DIR}/{path.name} [temp]"
        lines.append(f"node {node.id} '{node.label}' {input_name} {name!r} is missing: "
                     f"a stand-in {what} ({size}), {path}")
    return lines, covered


def _mask_output_used(graph: WorkflowGraph, node: Any, planned: set[str]) -> bool:
    """Whether a planned node reads one of the loader's MASK outputs (LoadImage's alpha):
    its stand-in picture then carries a painted area (``media.standins``' masked_image)."""
    types = list(node.output_types or [])
    slots = {i for i, t in enumerate(types) if str(t).upper() == "MASK"}
    return bool(slots) and any(target in planned and data.get("slot") in slots
                               for _, target, data in graph.graph.out_edges(node.id, data=True))


#: Images drawn at most into one stand-in folder.
MAX_FOLDER_IMAGES = 64


def _stand_in_folder(node: Any, input_name: str, name: str, input_dir: Path, output_dir: Path, temp: Path,
                     write: bool) -> str | None:
    """A stand-in for a missing image *folder* (the Inspire and VHS folder loaders): as many
    images as the node's ``start_index`` or ``skip_first_images``, ``select_every_nth`` and
    ``image_load_cap`` take (one image after the skipped ones when it takes all), drawn into
    ``<temp>/smoke-inputs/<name>/``, which every node naming that folder shares."""
    import re

    from wfrun.media.image_folder import resolve_folder
    from wfrun.media.standins import HEIGHT, WIDTH, write_standin

    try:
        resolve_folder(name, input_dir, output_dir, temp)
        return None  # the user's own folder
    except MediaPathError:
        pass

    def number(key: str) -> int:
        value = node.inputs.get(key, 0)
        return max(0, int(value)) if isinstance(value, int) and not isinstance(value, bool) else 0

    skipped = number("start_index") + number("skip_first_images")
    taken = (max(1, number("image_load_cap")) - 1) * max(1, number("select_every_nth")) + 1
    count = min(MAX_FOLDER_IMAGES, skipped + taken)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name.replace("\\", "/").strip("/").rsplit("/", 1)[-1]).strip("._")[:40]
    folder = temp / INPUTS_DIR / f"{stem or 'images'}_folder"
    if write:
        try:
            for i in range(count):
                write_standin(folder, f"{i:05d}.png", "image")
        except OSError as err:
            raise StandinWriteError(f"cannot write stand-in images into {folder}: {err}") from None
        node.inputs[input_name] = f"{INPUTS_DIR}/{folder.name} [temp]"
    return (f"node {node.id} '{node.label}' {input_name} {name!r} is missing: "
            f"{'' if write else 'would be '}a stand-in folder of {count} images ({WIDTH}x{HEIGHT}), {folder}")


def frames_to_draw(inputs: dict[str, Any]) -> int:
    """Enough frames for a video loader's selection: what it skips, then its cap (the smoke
    frame cap when it has none) at every n-th frame, at the rate it asks for (the inputs of
    VideoHelperSuite's loaders; a loader without them gets the smoke frame cap)."""
    def number(name: str, default: float) -> float:
        value = inputs.get(name, default)
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else default

    from wfrun.media.standins import FPS, MAX_FRAMES as MAX_DRAWN

    cap = max(0, int(number("frame_load_cap", 0))) or MAX_FRAMES
    nth = max(1, int(number("select_every_nth", 1)))
    skip = max(0, int(number("skip_first_frames", 0)))
    rate = number("force_rate", 0.0)
    stretch = math.ceil(FPS / rate) if 0 < rate < FPS else 1
    return min(MAX_DRAWN, (skip + cap * nth) * stretch)


def _stand_in_base64(node: Any, input_name: str, text: Any, temp: Path, write: bool) -> str | None:
    """A stand-in for an inline base64 picture that is not one (API files for external tools
    leave it empty or hold a ``{{placeholder}}``): the stand-in image's PNG bytes as base64."""
    import base64
    import binascii

    from wfrun.media.standins import HEIGHT, WIDTH, write_standin

    if isinstance(text, str) and text.strip() and not text.lstrip().startswith("data:"):
        try:
            base64.b64decode(text, validate=True)
            return None  # base64 text: the user's own picture, which the node reads (or refuses)
        except (binascii.Error, ValueError):
            pass
    shown = repr(text)[:40] if isinstance(text, str) else type(text).__name__
    if not write:
        return (f"node {node.id} '{node.label}' {input_name} {shown} is not an image: a stand-in image "
                f"({WIDTH}x{HEIGHT}) would be given as base64")
    try:
        path = write_standin(temp / INPUTS_DIR, "inline_base64.png", "image")
    except OSError as err:
        raise StandinWriteError(f"cannot write a stand-in image into {temp / INPUTS_DIR}: {err}") from None
    node.inputs[input_name] = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"node {node.id} '{node.label}' {input_name} {shown} is not an image: a stand-in image " \
           f"({WIDTH}x{HEIGHT}) given as base64, {path}"
