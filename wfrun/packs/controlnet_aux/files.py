"""Where the pack's model files are found.

The pack downloads each file from Hugging Face into its own ``ckpts/<repo id>/`` folder
(``ckpts/lllyasviel/Annotators/sk_model.pth``,
``ckpts/depth-anything/Depth-Anything-V2-Large/depth_anything_v2_vitl.pth``). wfrun never
downloads: it reads every one of them from ``<models>/controlnet_aux/<file>`` (no repository
sub-folders, so ``wfrun validate --models`` and the run look in the same place; the file names
of the pack's repositories do not collide). ``.pth`` files are read with
``torch.load(weights_only=True)`` only (``models.upscale.read_release_state_dict``).
"""

from __future__ import annotations

from pathlib import Path

import torch

from wfrun.models.header import CheckpointError
from wfrun.models.upscale import read_release_state_dict
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.nodes.models import resolve

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
    "yolox_l.onnx": "yzd-v/DWPose",
    "dw-ll_ucoco_384.onnx": "yzd-v/DWPose",
    "dw-ll_ucoco.onnx": "hr16/UnJIT-DWPose",
    "yolox_s.onnx": "hr16/yolox-onnx",
    "yolox_m.onnx": "hr16/yolox-onnx",
}


def find_file(ctx: ExecContext, name: str, input_name: str) -> Path:
    """``<models>/controlnet_aux/<name>``, or a NodeInputError naming where to put it and
    where to get it."""
    repo = SOURCES.get(name)
    where = (f"https://huggingface.co/{repo} (comfyui_controlnet_aux keeps it in its ckpts/{repo}/ folder)" if repo
             else "the comfyui_controlnet_aux model it names")
    return resolve(ctx, FOLDER, name, input_name, source=where)


def read_weights(path: Path, input_name: str) -> dict[str, torch.Tensor]:
    """Every tensor of a ``.pth`` (weights only) or ``.safetensors`` file."""
    try:
        return read_release_state_dict(path)
    except CheckpointError as err:
        raise NodeInputError(input_name, str(err).splitlines()[0],
                             f"get the file again from https://huggingface.co/{SOURCES.get(path.name, '')}") from None
