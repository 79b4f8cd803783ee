"""Keep optional packages that wfrun never uses out of its processes.

diffusers imports peft at import time whenever it is installed (``diffusers.hooks``'
layerwise casting, which every diffusers model import reaches), and peft in turn imports
transformers' auto classes and, through them, scikit-learn, pandas and scipy: 8.4 s of a
26 s process start on the H200 image (bench/RESULTS.md, session 13). wfrun merges LoRAs
itself and never calls peft.

A ``None`` entry in ``sys.modules`` is Python's own way to mark a module unavailable:
``importlib.util.find_spec`` (how both libraries probe for peft) then answers None and
``import peft`` raises ImportError. Called first thing by the processes wfrun starts — the
command line (``wfrun/__main__.py``), the ranks of ``--gpus`` and the Ray sweep's workers —
and never for a package something has already imported, so a program that imports wfrun as
a library keeps its own choice.
"""

from __future__ import annotations

import sys

UNUSED_OPTIONAL_PACKAGES = ("peft",)


def keep_unused_packages_out() -> None:
    """Mark :data:`UNUSED_OPTIONAL_PACKAGES` unavailable unless already imported."""
    for name in UNUSED_OPTIONAL_PACKAGES:
        sys.modules.setdefault(name, None)
