"""Checking a model file the way its loader will, before any weight is loaded.

A 14B transformer takes a minute to load; a file that was never going to load (cut short,
corrupt, a pickle, a VAE where the transformer belongs) should cost milliseconds and be
reported with every other problem of the workflow, before the run starts. So ``wfrun run``
(with or without ``--dry-run``) hands each model file a workflow names to
:func:`check_model_file`, which uses the same pieces the loaders use: ``open_checkpoint``
(the one header check of ``header.read_checkpoint_header``, or the pickle refusal),
``detect.identify`` and ``require_kind`` for the family, ``comfy_quant.layer_configs`` for
ComfyUI's per-layer quantization marks, and ``load.loadable_config`` for what the loader
refuses of the right family. Only headers are read. A GGUF file is read as
one (``gguf_reader``'s checked header, ``load_gguf``'s names) only where its loader loads
GGUF (``gguf=True``); elsewhere it is refused as that loader refuses it. Likewise a
TorchScript archive is read as data (``torchscript_weights``: its tensors' names, dtypes and
shapes, nothing run) only where its loader reads such archives (``torchscript=True``). An
``.onnx`` file in a folder wfrun has no weight family for (``detection``, where the pose
preprocessors' detectors live) is checked as the ONNX loader checks it (``pose.onnx_runtime``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from wfrun.models.comfy_quant import layer_configs, marked_layers
from wfrun.models.detect import DROPPED_SUFFIXES, FOLDER_KINDS, STRICT_KINDS, ModelInfo, identify, require_kind
from wfrun.models.header import CheckpointError, TensorInfo, sniff
from wfrun.models.load import loadable_config
from wfrun.models.reader import DTYPE_NAMES, TORCH_DTYPES, open_checkpoint
from wfrun.models.torchscript_weights import is_torchscript_archive, read_torchscript_state_dict


def expected_kinds(folders: str | Iterable[str] | None) -> frozenset[str]:
    """The model kinds a node reading from these models folders (comma-joined or a list)
    can load; empty where wfrun has no family for the folder (its files are only checked)."""
    if folders is None:
        return frozenset()
    names = folders.split(",") if isinstance(folders, str) else list(folders)
    return frozenset(FOLDER_KINDS[name] for name in names if name in FOLDER_KINDS)


def check_model_file(path: str | Path, folders: str | Iterable[str] | None = None, *,
                     allow_pickle: bool | None = None, gguf: bool = False, torchscript: bool = False) -> ModelInfo:
    """What the file at ``path`` is, or a one-line :class:`CheckpointError` naming it: an
    unreadable or corrupt file, a refused pickle, a tensor dtype wfrun cannot read, a file of
    another family than the folders' loader takes, or one that loader cannot load.
    ``gguf``: the loader reads GGUF files, so a GGUF file is checked as one."""
    wanted = expected_kinds(folders)
    if not wanted and Path(path).suffix.lower() == ".onnx":
        from wfrun.models.pose.onnx_runtime import OnnxModelError, check_onnx_file

        try:
            check_onnx_file(Path(path))
        except OnnxModelError as err:
            raise CheckpointError(str(err)) from None
        return ModelInfo(Path(path), "unknown", "", "onnx", "")
    if gguf and sniff(path) == "gguf":
        from wfrun.models.load_gguf import gguf_info

        info = gguf_info(path, wanted)
        if info.kind in wanted:
            loadable_config(info)
        return info
    if torchscript and sniff(path) == "zip" and is_torchscript_archive(path):
        state = read_torchscript_state_dict(path, read_data=False)
        tensors = {k: TensorInfo(DTYPE_NAMES.get(v.dtype, str(v.dtype)), tuple(v.shape)) for k, v in state.items()}
        return identify(Path(path), tensors, {})
    with open_checkpoint(path, allow_pickle=allow_pickle) as reader:
        info = identify(reader.path, reader.tensors, reader.metadata)
        for name, tensor in reader.tensors.items():
            if tensor.dtype not in TORCH_DTYPES and not name.endswith(DROPPED_SUFFIXES):
                raise CheckpointError(
                    f"{reader.path}: tensor {name!r} has dtype {tensor.dtype}, which wfrun cannot read; "
                    "use a version of this model stored in bf16, fp16, fp32 or fp8")
        if marked_layers(reader.tensors, reader.metadata):  # ComfyUI's quantization marks: a few bytes each
            layer_configs(reader)
    if wanted and info.kind not in wanted and (info.kind != "unknown" or wanted & STRICT_KINDS):
        require_kind(info, wanted)
    if info.kind in wanted:
        loadable_config(info)
    return info
