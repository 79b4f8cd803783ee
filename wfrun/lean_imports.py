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
import importlib.abc
import importlib.machinery
import importlib.metadata
import importlib.util
import json
import os
import sys
import threading

from wfrun.cache_dir import cache_root

#: peft (above); scikit-learn and torchaudio, which transformers imports at import time
#: when installed (its assisted-generation helpers, its audio utilities: 0.3 s each of the
#: 2.5 s that the model classes' imports took on the H200 image, bench/RESULTS.md session 18)
#: and which nothing wfrun runs needs (its audio resampling and Demucs are its own).
UNUSED_OPTIONAL_PACKAGES = ("peft", "sklearn", "torchaudio")


#: Modules the libraries import at import time but rarely use: diffusers' schedulers import
#: ``scipy.stats`` for their beta-sigma option (which Wan's samplers do not take), 0.7 s of
#: the model classes' import on the H200 image (bench/RESULTS.md, session 19), and its LMS
#: scheduler ``scipy.integrate`` (which the Wan transformer's module reaches through
#: diffusers' single-file loaders: 0.33 s of that import on the 2-core box). They are
#: imported when first used (:func:`defer_until_used`); wfrun's own beta scheduler uses it so.
DEFERRED_MODULES = ("scipy.stats", "scipy.integrate")

#: Packages whose ``__init__`` imports every model the library has, of which wfrun builds
#: only the Wan ones: diffusers' transformers package imports its ~80 transformer models
#: (1.6 s of the model classes' import on the H200 image, bench/RESULTS.md session 18), its
#: autoencoders package every VAE. When one is imported, its body waits until a name is asked
#: of the package itself (:class:`DeferredPackageBodies`); importing one of its submodules
#: (``diffusers.models.transformers.transformer_wan``) does not run it.
DEFERRED_PACKAGE_BODIES = ("diffusers.models.transformers", "diffusers.models.autoencoders")


def keep_unused_packages_out() -> None:
    """Mark :data:`UNUSED_OPTIONAL_PACKAGES` unavailable unless already imported, defer
    :data:`DEFERRED_MODULES` until used and the bodies of :data:`DEFERRED_PACKAGE_BODIES`
    until asked, and let the libraries share one map of installed packages
    (:func:`share_package_map`)."""
    for name in UNUSED_OPTIONAL_PACKAGES:
        sys.modules.setdefault(name, None)
    for name in DEFERRED_MODULES:
        defer_until_used(name)
    if not any(isinstance(finder, DeferredPackageBodies) for finder in sys.meta_path):
        sys.meta_path.insert(0, DeferredPackageBodies(DEFERRED_PACKAGE_BODIES))
    share_package_map()


def defer_until_used(name: str) -> None:
    """Put a stand-in for module ``name`` in ``sys.modules`` that runs the module the first
    time one of its attributes is asked for (PEP 562's module ``__getattr__``), in the same
    module object, so ``import name`` costs nothing until the module is used. The stand-in
    carries the module's spec, file and path from the start: introspection that walks
    ``sys.modules`` (``inspect.getmodule``, which torch's custom-op registration calls at
    import) does not set it off, as it would the standard library's ``LazyLoader``. Nothing
    is done for a module already imported or not installed."""
    if name in sys.modules:
        return
    try:
        spec = importlib.util.find_spec(name)  # imports the parent package, which is cheap
    except (ImportError, ValueError):
        return
    if spec is None or spec.loader is None or name in sys.modules:
        return
    module = importlib.util.module_from_spec(spec)
    _run_body_when_asked(module, spec.loader)
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)


def _run_body_when_asked(module, loader) -> None:
    """Give ``module`` (made from its spec, body not run) a PEP 562 ``__getattr__`` that runs
    the body with ``loader`` the first time a name is asked of it that it does not have yet,
    once, in the same module object, then answers from it (and is removed, unless the body
    defines its own). Attributes the module already has (``__spec__``, ``__path__``, the
    submodules imported through it) are answered without running the body."""
    name = module.__name__
    lock = threading.RLock()  # a second thread waits for the first one's run of the body
    state = {"now": "waiting"}  # then "running", then "done"

    def __getattr__(attribute: str):
        with lock:
            if state["now"] == "running":  # asked by the module's own code while it runs: not there yet
                raise AttributeError(f"partially initialized module {name!r} has no attribute {attribute!r}")
            if state["now"] == "waiting":
                state["now"] = "running"
                try:
                    loader.exec_module(module)
                except BaseException:
                    sys.modules.pop(name, None)  # the next import tries again, and fails as it would have
                    raise
                state["now"] = "done"
                if module.__dict__.get("__getattr__") is __getattr__:  # unless the module has its own
                    del module.__dict__["__getattr__"]
        if module.__dict__.get("__getattr__") is __getattr__:
            raise AttributeError(f"module {name!r} has no attribute {attribute!r}")
        return getattr(module, attribute)

    module.__getattr__ = __getattr__


class DeferredPackageBodies(importlib.abc.MetaPathFinder):
    """Finds the packages named (by the usual path search) and hands them to the import system
    with a loader that defers their body until used (:func:`_run_body_when_asked`). Unlike
    :func:`defer_until_used` this needs nothing imported beforehand: it acts when the package
    is first imported, by whoever imports it."""

    def __init__(self, names) -> None:
        self.names = frozenset(names)

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in self.names:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _BodyWhenAsked(spec.loader)
        return spec


class _BodyWhenAsked(importlib.abc.Loader):
    """The package's own loader, except that ``exec_module`` defers the body."""

    def __init__(self, loader) -> None:
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        _run_body_when_asked(module, self.loader)

    def __getattr__(self, attribute: str):  # get_code, get_resource_reader, is_package, ...
        return getattr(self.loader, attribute)


def share_package_map() -> None:
    """One scan of the installed packages for the whole process.

    diffusers and transformers each build ``importlib.metadata.packages_distributions()``
    when imported (which import name belongs to which distribution), a walk over every
    installed distribution's file list: 1.7 and 2.1 s of a profiled process start on the
    H200 image (bench/RESULTS.md, session 16). Nothing is installed while wfrun runs, so the
    first answer is kept and later callers get a copy of it (theirs to change). The one scan
    left still took 1.4 s of every process start there (session 18), so the answer is also
    kept on disk for the next process while the environment stays as it was
    (:func:`saved_scan`)."""
    original = importlib.metadata.packages_distributions
    if getattr(original, "wfrun_shared", False):
        return
    scan = functools.cache(lambda: saved_scan(original))

    def packages_distributions() -> dict[str, list[str]]:
        return {name: list(dists) for name, dists in scan().items()}

    packages_distributions.wfrun_shared = True  # type: ignore[attr-defined]
    packages_distributions.__doc__ = original.__doc__
    importlib.metadata.packages_distributions = packages_distributions


#: The file under wfrun's cache folder that keeps the last scan and what it was made for.
SCAN_FILE = "packages_distributions.json"


def environment_key() -> list:
    """What the map of installed packages depends on: the interpreter and, for each folder on
    ``sys.path``, the distributions' metadata folders in it (``*.dist-info``, ``*.egg-info``)
    with the time each last changed: installing, upgrading or removing a distribution adds,
    renames or rewrites one. Not the folders' own times: a script's folder or the working
    directory is on ``sys.path`` too and changes whenever a file is written there, and each
    entry point (``python -m wfrun``, a script) puts a different one first, which made every
    other process scan again (bench/RESULTS.md, session 20)."""
    key: list = [sys.executable, sys.version]
    for entry in sys.path:
        try:
            with os.scandir(entry or ".") as children:
                found = sorted([child.name, child.stat().st_mtime_ns] for child in children
                               if child.name.endswith((".dist-info", ".egg-info")))
        except OSError:  # not a folder (a zip file), gone, or unreadable: nothing to scan there
            found = None
        if found:
            key.append([entry, found])
    return key


def saved_scan(scan) -> dict[str, list[str]]:
    """``scan()``'s map, read back from the cache folder when it was saved for this same
    environment (:func:`environment_key`), else scanned and saved (atomically; a folder that
    cannot be written only means the next process scans again)."""
    path = cache_root() / SCAN_FILE
    key = environment_key()
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        if saved.get("key") == key and isinstance(saved.get("map"), dict):
            return {str(name): [str(d) for d in dists] for name, dists in saved["map"].items()}
    except (OSError, ValueError, AttributeError, TypeError):
        pass
    result = scan()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps({"key": key, "map": result}), encoding="utf-8")
        os.replace(temporary, path)
    except OSError:
        pass
    return result
