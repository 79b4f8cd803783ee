"""endman100's ``LoadContditioning`` (the pack's spelling), as of ``b5b2d50`` (2024-07-03, the
commit saved workflows name): a CONDITIONING read back from a ``.bin`` file in the models'
``conditionings`` folder, which the pack's SaveConditioning writes with ``torch.save``.

The file is one conditioning entry, ``[tensor, {"pooled_output": ..., ...}]``; the pack loads
it with ``torch.load``, moves the tensor and every tensor value of the dict to the CPU, and
returns it as a one-entry CONDITIONING. ``torch.save`` files are Python pickles, which can
run code when loaded: wfrun reads one only when the run opted into pickles (``--allow-pickle``)
and then only with ``torch.load(weights_only=True)``, which builds tensors and plain
containers and nothing else. Anything but a list whose first item is a tensor and second a
dict is refused on the input, where the pack would fail on the same file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from wfrun.models.header import sniff
from wfrun.models.reader import ALLOW_PICKLE_ENV, pickle_allowed
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.models import resolve

#: The folder the pack registers (``folder_paths`` key ``conditionings``, under models/).
FOLDER = "conditionings"
#: The one extension the pack lists there; ComfyUI refuses any other name as not in the list.
EXTENSION = ".bin"


def read_conditioning(path: Path) -> list:
    """The entry a SaveConditioning file holds, checked, with its tensors on the CPU."""
    if not pickle_allowed():
        raise NodeInputError(
            "conditioning", f"{path}: a torch.save file, i.e. a Python pickle, which can run code when loaded",
            f"if you trust this file, opt in with `wfrun run --allow-pickle` or {ALLOW_PICKLE_ENV}=1 "
            "(it is then read with torch.load(weights_only=True))")
    if sniff(path) not in ("zip", "pickle"):
        raise NodeInputError("conditioning", f"{path}: not a torch.save file (SaveConditioning writes those)")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure is the file's fault
        raise NodeInputError("conditioning", f"{path}: cannot be read as a weights-only torch file "
                             f"({type(err).__name__}): it holds more than tensors and plain values, or is "
                             "damaged") from None
    if not (isinstance(data, list) and len(data) >= 2 and isinstance(data[0], torch.Tensor)
            and isinstance(data[1], dict)):
        raise NodeInputError("conditioning", f"{path}: holds {type(data).__name__}, not the [tensor, dict] "
                             "conditioning entry SaveConditioning writes; the pack fails on it too")
    data[0] = data[0].cpu()
    data[1] = {k: v.cpu() if isinstance(v, torch.Tensor) else v for k, v in data[1].items()}
    return data


@executor("LoadContditioning")
def load_conditioning(ctx: ExecContext, conditioning: str, **_: Any) -> tuple:
    if not str(conditioning).lower().endswith(EXTENSION):
        raise NodeInputError("conditioning", f"{conditioning!r}: the pack lists only {EXTENSION} files of "
                             f"models/{FOLDER}, so ComfyUI refuses this value as not in its list",
                             f"name a {EXTENSION} file of models/{FOLDER}")
    path = resolve(ctx, FOLDER, conditioning, "conditioning")
    return ([read_conditioning(path)],)
