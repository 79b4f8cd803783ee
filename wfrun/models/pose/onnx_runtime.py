"""ONNX model files run through onnxruntime, read as the pose packs read them.

The packs hand the file to ``onnxruntime.InferenceSession`` (or OpenCV's DNN module) and feed
it numpy arrays; wfrun does the same with onnxruntime, which is a dependency for this. What is
added around it, because the files come from the internet:

- the content is checked before onnxruntime sees it: a TorchScript or pickle archive, a Git LFS
  pointer or a saved web page under an ``.onnx`` name gets a one-line error, not a protobuf
  parse failure; files over ``MAX_BYTES`` are refused;
- onnxruntime itself refuses external-data paths that leave the model's folder (absolute
  paths, ``..``), and runs no custom operator library unless one is registered (none is);
- sessions are cached per file (path, size, modification time) and device, as the packs keep
  their loaded detector between calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from wfrun.models.header import sniff

#: The protobuf limit of a single ONNX file; real pose models are 100-250 MB.
MAX_BYTES = 2 * 2**30


class OnnxModelError(ValueError):
    """The file is not an ONNX model onnxruntime can run; the message names it and says why."""


@dataclass(frozen=True)
class OnnxModel:
    """A loaded model: its session, input name and shape (symbolic dims as None) and output names."""

    path: Path
    session: object
    input_name: str
    input_shape: tuple[int | None, ...]
    output_names: tuple[str, ...]
    input_dtype: type = np.float32

    def run(self, array: np.ndarray) -> list[np.ndarray]:
        """All outputs for one input array (cast to the file's input type), in output order."""
        return list(self.session.run(None, {self.input_name: array.astype(self.input_dtype, copy=False)}))

    @property
    def fixed_batch(self) -> int | None:
        """The batch size the file fixes (None when it is symbolic)."""
        return self.input_shape[0] if self.input_shape else None


def providers_for(device: str) -> list[str]:
    """onnxruntime's CUDA provider when the run is on a CUDA device and the installed build
    has it, then the CPU provider (the packs' order, with wfrun's device choice first)."""
    import onnxruntime

    available = onnxruntime.get_available_providers()
    wanted = ["CUDAExecutionProvider"] if str(device).startswith("cuda") else []
    return [p for p in wanted if p in available] + ["CPUExecutionProvider"]


def check_onnx_file(path: Path) -> None:
    """Refuse what is plainly not an ONNX protobuf, naming what it is."""
    try:
        size = path.stat().st_size
    except OSError as err:
        raise OnnxModelError(f"{path}: cannot read it ({err.strerror})") from None
    if size > MAX_BYTES:
        raise OnnxModelError(f"{path}: {size} bytes, over the {MAX_BYTES} an ONNX file can hold")
    kind = sniff(path)
    if kind in ("zip", "pickle"):
        raise OnnxModelError(f"{path}: a PyTorch archive (TorchScript or a pickle), not an ONNX model")
    if kind in ("lfs", "html", "safetensors", "gguf"):
        what = {"lfs": "a Git LFS pointer, not the model", "html": "a saved web page (a failed download)",
                "safetensors": "a safetensors file", "gguf": "a GGUF file"}[kind]
        raise OnnxModelError(f"{path}: {what}, not an ONNX model")


def load_onnx(path: str | Path, device: str = "cpu") -> OnnxModel:
    """The model at ``path`` in an onnxruntime session for ``device`` (cached)."""
    path = Path(path)
    check_onnx_file(path)
    stat = path.stat()
    return _load(str(path.resolve()), stat.st_size, stat.st_mtime_ns, tuple(providers_for(device)))


@lru_cache(maxsize=4)
def _load(path: str, size: int, mtime: int, providers: Sequence[str]) -> OnnxModel:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only: the pack's files trigger shape-inference warnings
    try:
        session = onnxruntime.InferenceSession(path, sess_options=options, providers=list(providers))
    except Exception as err:  # onnxruntime raises its own exception types for a bad file
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise OnnxModelError(f"{path}: onnxruntime cannot load it: {first}") from None
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1:
        raise OnnxModelError(f"{path}: {len(inputs)} inputs; a pose or detection model has one image input")
    shape = tuple(d if isinstance(d, int) else None for d in inputs[0].shape)
    dtype = _INPUT_TYPES.get(inputs[0].type)
    if dtype is None:
        raise OnnxModelError(f"{path}: its input is {inputs[0].type}; wfrun feeds float32 or float16 images")
    return OnnxModel(Path(path), session, inputs[0].name, shape, tuple(o.name for o in outputs), dtype)


_INPUT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}
