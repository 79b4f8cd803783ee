"""Python's cyclic garbage collector kept off what the imports made.

A wfrun process holds about 500,000 objects once torch, diffusers, transformers and the
packs are imported (modules, functions, classes, the node specs), and every full collection
walks all of them with the GIL held: 0.4 s on the 2-core development box, 0.25-0.35 s on the
H200 image, where a sampled 4-step job showed such pauses inside the text encoder's forward,
the model classes' import and the first step's Dynamo trace (bench/RESULTS.md, session 21).
None of those objects ever becomes garbage. ``gc.freeze()`` moves every object that exists
into the collector's permanent generation, which later collections skip.

Only where nothing but imports and the run's description exist (no model, no tensor): a
frozen object is never collected, so a frozen reference cycle holding a model's memory
would never be freed. Each site freezes once per process; later calls (a further seed, the
next workflow file, whose models exist by then) do nothing. Only in the processes wfrun
starts (:func:`own_process`: the command line, the ranks of ``--gpus``, the Ray sweep's
workers): a program that imports wfrun as a library keeps its collector as it set it.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from typing import Iterator

_DONE: set[str] = set()
_LOCK = threading.Lock()
_OWNED = False
#: Whether collections are held off by :func:`hold_until_job_start` (and not given back yet).
_HELD = False


def own_process() -> None:
    """This process is wfrun's own: the freezes below apply."""
    global _OWNED
    _OWNED = True


def hold_until_job_start() -> None:
    """No collections while ``wfrun run`` starts: importing torch, diffusers, transformers and
    the packs and reading the node specs set off nine full collections, each walking all that
    had been imported so far (13.0-17.8 s to the first job's start on the 2-core box with them,
    10.8-11.8 s without). The first job's start (:func:`freeze_once`) freezes what the start
    made and gives collections back; so does :func:`release`, for a run that starts no job
    here (``--dry-run``, ``--ray``'s driver, ``--gpus``' launcher)."""
    global _HELD
    if gc.isenabled():
        gc.disable()
        _HELD = True


def release() -> None:
    """Collections back on, where :func:`hold_until_job_start` held them off."""
    global _HELD
    with _LOCK:
        held, _HELD = _HELD, False
    if held:
        gc.enable()


def freeze_once(site: str) -> None:
    """Freeze what exists now, the first time ``site`` asks in this process (and give back
    collections held off while the process started)."""
    with _LOCK:
        first = _OWNED and site not in _DONE
        if first:
            _DONE.add(site)
    if first:
        gc.freeze()
    release()


@contextlib.contextmanager
def imports_then_freeze(site: str) -> Iterator[None]:
    """Within: imports only, with collections held off (they would walk everything imported
    so far, again and again); after: what exists frozen. The first time per ``site`` only."""
    with _LOCK:
        first = _OWNED and site not in _DONE
    if not first:
        yield
        return
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
        freeze_once(site)
