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

import functools
import importlib.metadata
import sys

#: peft (above); scikit-learn and torchaudio, which transformers imports at import time
#: when installed (its assisted-generation helpers, its audio utilities: 0.3 s each of the
#: 2.5 s that the model classes' imports took on the H200 image, bench/RESULTS.md session 18)
#: and which nothing wfrun runs needs (its audio resampling and Demucs are its own).
UNUSED_OPTIONAL_PACKAGES = ("peft", "sklearn", "torchaudio")


def keep_unused_packages_out() -> None:
    """Mark :data:`UNUSED_OPTIONAL_PACKAGES` unavailable unless already imported, and let
    the libraries share one map of installed packages (:func:`share_package_map`)."""
    for name in UNUSED_OPTIONAL_PACKAGES:
        sys.modules.setdefault(name, None)
    share_package_map()


def share_package_map() -> None:
    """One scan of the installed packages for the whole process.

    diffusers and transformers each build ``importlib.metadata.packages_distributions()``
    when imported (which import name belongs to which distribution), a walk over every
    installed distribution's file list: 1.7 and 2.1 s of a profiled process start on the
    H200 image (bench/RESULTS.md, session 16). Nothing is installed while wfrun runs, so the
    first answer is kept and later callers get a copy of it (theirs to change)."""
    original = importlib.metadata.packages_distributions
    if getattr(original, "wfrun_shared", False):
        return
    scan = functools.cache(original)

    def packages_distributions() -> dict[str, list[str]]:
        return {name: list(dists) for name, dists in scan().items()}

    packages_distributions.wfrun_shared = True  # type: ignore[attr-defined]
    packages_distributions.__doc__ = original.__doc__
    importlib.metadata.packages_distributions = packages_distributions
