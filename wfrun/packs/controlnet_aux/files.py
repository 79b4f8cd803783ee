"""Where the pack's model files are found.

The pack downloads each file from Hugging Face into its own ``ckpts/<repo id>/`` folder
(``ckpts/lllyasviel/Annotators/sk_model.pth``,
``ckpts/depth-anything/Depth-Anything-V2-Large/depth_anything_v2_vitl.pth``). wfrun never
downloads: it reads ``<models>/controlnet_aux/<file>``, and also ``<models>/controlnet_aux/<repo
id>/<file>``, so the pack's ``ckpts`` folder can be copied (or linked) as
``<models>/controlnet_aux`` unchanged. ``.pth`` files are read with
``torch.load(weights_only=True)`` only (``models.upscale.read_release_state_dict``).
"""

from __future__ import annotations

from pathlib import Path

import torch

from wfrun.models.header import CheckpointError
from wfrun.models.paths import ModelPathError, find_model
from wfrun.models.upscale import read_release_state_dict
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.nodes.models import roots_of

#: The models sub-folder wfrun reads this pack's files from.
FOLDER = "controlnet_aux"

#: The Hugging Face repository the pack downloads each file from.
SOURCES = {
    "sk_model.pth": "lllyasviel/Annotators",
    "sk_model2.pth": "lllyasviel/Annotators",
    "depth_anything_v2_vits.pth": "depth-anything/Depth-Anything-V2-Small",
    "depth_anything_v2_vitb.pth": "depth-anything/Depth-Anything-V2-Base",
    "depth_anything_v2_vitl.pth": "depth-anything/Depth-Anything-V2-Large",
    "depth_anything_v2_vitg.pth": "depth-anything/Depth-Anything-V2-Giant",
}


def find_file(ctx: ExecContext, name: str, input_name: str) -> Path:
    """``<models>/controlnet_aux/<name>`` (or under its repository's sub-folder), or a
    NodeInputError naming where to put it and where to get it."""
    roots = roots_of(ctx)
    repo = SOURCES.get(name)
    candidates = [name] + ([f"{repo}/{name}"] if repo else [])
    first: ModelPathError | None = None
    for candidate in candidates:
        try:
            return find_model(roots, FOLDER, candidate)
        except ModelPathError as err:
            first = first or err
    searched = roots.folders(FOLDER)
    target = searched[0] if searched else Path("<models>") / FOLDER
    where = f"https://huggingface.co/{repo}" if repo else "the comfyui_controlnet_aux model it names"
    raise NodeInputError(
        input_name, f"{name} not found: {first}",
        f"wfrun never downloads models: get {name} from {where} and put it in {target} "
        f"(comfyui_controlnet_aux keeps it in its ckpts/{repo or '…'}/ folder; that folder can serve as "
        f"{FOLDER}/ as is), or give the models folder with --models DIR") from None


def read_weights(path: Path, input_name: str) -> dict[str, torch.Tensor]:
    """Every tensor of a ``.pth`` (weights only) or ``.safetensors`` file."""
    try:
        return read_release_state_dict(path)
    except CheckpointError as err:
        raise NodeInputError(input_name, str(err).splitlines()[0],
                             f"get the file again from https://huggingface.co/{SOURCES.get(path.name, '')}") from None
