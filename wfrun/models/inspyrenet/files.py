"""Where InSPyReNet checkpoints are found.

The ``transparent-background`` library keeps them in ``~/.transparent-background/`` (or under
``$TRANSPARENT_BACKGROUND_FILE_PATH/.transparent-background/``) and downloads a missing one
from its GitHub release. wfrun never downloads: it reads ``<models>/transparent-background/
<file>`` first (any models folder of the run; a ``.safetensors`` twin of the same stem is
read too), then the library's own folder, so a ComfyUI install's existing download is used as
it is. ``.pth`` files are read with ``torch.load(weights_only=True)`` only.

The library's ``config.yaml`` in that folder (which a user may have edited to point a mode at
another file or size) is not read: the modes are the released ones (``MODES``).
"""

from __future__ import annotations

import os
from pathlib import Path

from wfrun.models.paths import ModelPathError, ModelRoots, find_model

#: The models sub-folder wfrun reads InSPyReNet checkpoints from.
FOLDER = "transparent-background"
#: The library's release each checkpoint is published with.
RELEASE = "https://github.com/plemeri/transparent-background/releases/download/1.2.12/"


def library_folder() -> Path:
    """The folder the library downloads into."""
    base = os.environ.get("TRANSPARENT_BACKGROUND_FILE_PATH") or os.path.expanduser("~")
    return Path(base) / ".transparent-background"


def candidates(name: str) -> tuple[str, ...]:
    """The release name and its ``.safetensors`` twin."""
    return (name, str(Path(name).with_suffix(".safetensors")))


def find_checkpoint(roots: ModelRoots, name: str) -> Path | None:
    """The checkpoint file ``name`` (``ckpt_base.pth``, …), or None when no place has it."""
    for candidate in candidates(name):
        try:
            return find_model(roots, FOLDER, candidate)
        except ModelPathError:
            pass
    home = library_folder()
    for candidate in candidates(name):
        if (home / candidate).is_file():
            return home / candidate
    return None


def searched(roots: ModelRoots) -> list[str]:
    """The folders :func:`find_checkpoint` looks in, for messages."""
    return [str(p) for p in roots.folders(FOLDER)] + [str(library_folder())]
