"""SaveLatent and LoadLatent: a LATENT as a ``.latent`` file (safetensors), as ComfyUI's
nodes write and read it (nodes.py, 0.8.x to 0.10.x).

SaveLatent writes ``latent_tensor`` (the samples, contiguous, in their own dtype) and the
empty ``latent_format_version_0`` marker, with text metadata ``prompt`` (the API prompt as
JSON) and, for each ``extra_pnginfo`` entry, that entry as JSON (``workflow``). Names are
``<prefix>_<counter:05>_.latent`` in the output folder, the counter as for SaveImage; a file
is written under a temporary name and published only when whole, never over an existing
one. As SaveImage in wfrun, the metadata holds what wfrun knows: the UI document as
``workflow`` for a UI file; ``prompt`` is the API prompt for an API file and ``""`` for a UI
file (ComfyUI's frontend sends both; wfrun has only the file).

LoadLatent reads a ``.latent`` file named by its widget inside the input folder (nothing
outside it), safetensors only: ``latent_tensor`` as float32, multiplied by ``1 / 0.18215``
when the file lacks the version marker (the pre-marker SD1 files), as ComfyUI does.
"""

from __future__ import annotations

import json
from typing import Any

import torch

from wfrun.atomic import write_bytes
from wfrun.media.image import MediaPathError, save_target, workflow_metadata
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.files import input_file, record

VERSION_MARKER = "latent_format_version_0"
#: What a file without the marker is scaled by (SD1's latent scale, undone).
LEGACY_SCALE = 1.0 / 0.18215
#: A .latent file larger than this is refused before reading (a 14B Wan video latent of a
#: few hundred frames is well under 1 GiB).
MAX_LATENT_BYTES = 8 << 30


def latent_metadata(workflow_json: Any) -> dict[str, str]:
    known = workflow_metadata(workflow_json)
    prompt = known.pop("prompt", None)
    meta = {"prompt": json.dumps(prompt) if prompt is not None else ""}
    meta.update({key: json.dumps(value) for key, value in known.items()})
    return meta


@executor("SaveLatent")
def save_latent(ctx: ExecContext, samples: Any, filename_prefix: str, **_: Any) -> tuple:
    from safetensors.torch import save

    if not isinstance(samples, dict) or not isinstance(samples.get("samples"), torch.Tensor):
        raise NodeInputError("samples", "expected a LATENT (a dict with a 'samples' tensor)")
    try:
        target = save_target(ctx.output_dir, filename_prefix)
    except MediaPathError as err:
        raise NodeInputError("filename_prefix", str(err), "use a name or a relative sub-folder/name") from None
    data = save({"latent_tensor": samples["samples"].detach().cpu().contiguous(),
                 VERSION_MARKER: torch.tensor([])}, metadata=latent_metadata(ctx.workflow_json))
    counter = target.counter
    while True:
        path = target.folder / f"{target.filename}_{counter:05}_.latent"
        try:
            write_bytes(path, data)
            break
        except FileExistsError:
            counter += 1
    record(ctx, path)
    return (samples,)


def _latent_files(inputs: dict) -> dict:
    """The file the node will read, checked before any model loads (jobs/run.py)."""
    return {"latent": (inputs.get("latent"), "latent")}


@executor("LoadLatent", volatile=True, input_files=_latent_files)
def load_latent(ctx: ExecContext, latent: str, **_: Any) -> tuple:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = input_file(ctx, latent, "latent", "latent")
    if path.suffix.lower() != ".latent":
        raise NodeInputError("latent", f"{path.name} is not a .latent file", "pick a .latent file of the input folder")
    if path.stat().st_size > MAX_LATENT_BYTES:
        raise NodeInputError("latent", f"{path.name} is larger than {MAX_LATENT_BYTES >> 30} GiB")
    try:
        tensors = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as err:
        raise NodeInputError("latent", f"{path.name} is not a safetensors .latent file ({err})",
                             "save it with SaveLatent") from None
    if "latent_tensor" not in tensors:
        raise NodeInputError("latent", f"{path.name} has no latent_tensor", "save it with SaveLatent")
    scale = 1.0 if VERSION_MARKER in tensors else LEGACY_SCALE
    return ({"samples": tensors["latent_tensor"].float() * scale},)
