"""Finding the file a workflow names, in ComfyUI's models folder layout.

Workflows name models as ComfyUI lists them: relative to a models sub-folder, often with
Windows separators (``WanVideo\\\\Wan2_1-I2V-14B-480P_fp8_e4m3fn.safetensors``). A name is
untrusted input, so it is resolved only *inside* a models folder: absolute paths and
``..`` segments are refused.

Users who keep models outside ComfyUI list them in ComfyUI's ``extra_model_paths.yaml``;
wfrun reads that file the way ComfyUI does (``utils/extra_config.py``): named sections,
each with an optional ``base_path`` (``~`` and ``$VARS`` expanded, relative to the YAML
file's folder) and ``is_default`` (its folders are searched *first*), and folder keys whose
values are one or more paths, one per line, relative to ``base_path``. The legacy keys
``unet`` and ``clip`` mean ``diffusion_models`` and ``text_encoders``, as in ComfyUI. A
folder key at the top level (no section) is read as a one-entry section, as recent ComfyUI
versions do.

A name that matches no file exactly may still match one file but for case: workflows saved
on Windows name files as that file system shows them.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable, Sequence

#: ComfyUI's folder names, with the older names it still reads.
FOLDER_ALIASES: dict[str, tuple[str, ...]] = {
    "diffusion_models": ("diffusion_models", "unet"),
    "unet": ("unet", "diffusion_models"),
    "text_encoders": ("text_encoders", "clip"),
    "clip": ("clip", "text_encoders"),
    "vae": ("vae",),
    "clip_vision": ("clip_vision",),
    "loras": ("loras",),
    "checkpoints": ("checkpoints",),
}

MODEL_SUFFIXES = (".safetensors", ".sft", ".gguf", ".ckpt", ".pt", ".pth", ".bin")

#: ComfyUI's ``folder_paths.map_legacy``: old folder keys in extra_model_paths.yaml.
LEGACY_FOLDERS = {"unet": "diffusion_models", "clip": "text_encoders"}


EXTRA_PATHS_FILE = "extra_model_paths.yaml"


def _models_folder(path: Path) -> Path:
    """``path``, or its ``models`` sub-folder when ``path`` is a ComfyUI folder rather than
    its models folder (it has ``models/`` and none of the model sub-folders itself)."""
    if (path / "models").is_dir() and not any((path / name).is_dir() for name in FOLDER_ALIASES):
        return path / "models"
    return path


class ModelPathError(ValueError):
    """A model name that cannot be resolved; the message says where we looked."""


@dataclass(frozen=True)
class ModelRoots:
    """The models folders to search, in order.

    ``roots`` are models folders holding ComfyUI's sub-folders (``diffusion_models/``, ...);
    ``extra`` are ``(folder, path, is_default)`` entries from extra_model_paths.yaml, each a
    folder of one kind: default ones are searched before ``roots``, the others after.
    """

    roots: tuple[Path, ...] = ()
    extra: tuple[tuple[str, Path, bool], ...] = ()

    @classmethod
    def from_options(cls, models_dir: str | os.PathLike[str] | None = None,
                     extra_paths_yaml: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
                     ) -> "ModelRoots":
        """``models_dir``, then the ``WFRUN_MODELS`` entries (``os.pathsep``-separated models
        folders, or extra_model_paths.yaml files), plus the given YAML file(s).

        A models folder may also be given as the ComfyUI folder holding it. ComfyUI reads the
        ``extra_model_paths.yaml`` in its own folder at start-up, so wfrun reads the one beside
        a ``models`` folder (or in it) too."""
        roots: list[Path] = []
        yamls: list[Path] = []
        if models_dir:
            roots.append(Path(models_dir))
        for entry in filter(None, os.environ.get("WFRUN_MODELS", "").split(os.pathsep)):
            (yamls if entry.lower().endswith((".yaml", ".yml")) else roots).append(Path(entry))
        roots = [_models_folder(root) for root in roots]
        for root in roots:
            for candidate in (root / EXTRA_PATHS_FILE, root.parent / EXTRA_PATHS_FILE):
                if candidate.is_file() and candidate not in yamls:
                    yamls.append(candidate)
        if extra_paths_yaml:
            given = [extra_paths_yaml] if isinstance(extra_paths_yaml, (str, os.PathLike)) else extra_paths_yaml
            yamls.extend(Path(p) for p in given)
        extra: list[tuple[str, Path, bool]] = []
        for path in dict.fromkeys(yamls):
            extra.extend(read_extra_model_paths(path))
        return cls(tuple(dict.fromkeys(roots)), tuple(extra))

    def folders(self, folder: str) -> list[Path]:
        """Where files of ``folder`` (any alias) are searched, in order."""
        aliases = FOLDER_ALIASES.get(folder, (folder,))
        kinds = {LEGACY_FOLDERS.get(a, a) for a in (folder, *aliases)}
        first = [p for kind, p, default in self.extra if default and kind in kinds]
        last = [p for kind, p, default in self.extra if not default and kind in kinds]
        middle = [Path(root) / name for root in self.roots for name in aliases]
        return list(dict.fromkeys(first + middle + last))

    def search_lists(self) -> dict[str, list[Path]]:
        """Every folder kind wfrun or the YAML knows, with its search list."""
        kinds = [k for k in FOLDER_ALIASES if k not in LEGACY_FOLDERS]
        kinds += [kind for kind, _, _ in self.extra if kind not in kinds]
        return {kind: self.folders(kind) for kind in dict.fromkeys(kinds)}


def read_extra_model_paths(path: str | os.PathLike[str]) -> list[tuple[str, Path, bool]]:
    """``(folder, path, is_default)`` entries of a ComfyUI extra_model_paths.yaml."""
    import yaml

    path = Path(path)
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ModelPathError(f"{path}: cannot be read ({err.strerror})") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ModelPathError(f"{path}: not valid YAML{where}") from None
    if config is None:
        return []
    if not isinstance(config, dict):
        raise ModelPathError(f"{path}: expected named sections (a mapping) at the top level")
    here = path.resolve().parent
    entries: list[tuple[str, Path, bool]] = []
    for section, conf in config.items():
        if conf is None:
            continue
        if not isinstance(conf, dict):  # a folder key at the top level, without a section
            conf = {section: conf}
        conf = dict(conf)
        base = conf.pop("base_path", None)
        if base is not None:
            base = os.path.expandvars(os.path.expanduser(str(base)))
            if not os.path.isabs(base):
                base = os.path.join(here, base)
        default = bool(conf.pop("is_default", False))
        for key, value in conf.items():
            for line in _lines(value):
                full = os.path.join(base, line) if base else (
                    line if os.path.isabs(line) else os.path.join(here, line))
                entries.append((LEGACY_FOLDERS.get(str(key), str(key)), Path(os.path.normpath(full)), default))
    return entries


def _lines(value: object) -> Iterable[str]:
    """A folder value: one path per line (YAML ``|`` blocks), or a list of paths."""
    if value is None:
        return []
    items = value if isinstance(value, list) else str(value).split("\n")
    return [str(item).strip() for item in items if str(item).strip()]


def safe_relative(name: str) -> PurePosixPath:
    """The model name as a relative path, refusing anything that could escape a folder."""
    rel = PurePosixPath(name.replace("\\", "/"))
    if (not name or "\0" in name or not rel.parts or rel.is_absolute() or ":" in rel.parts[0]
            or ".." in rel.parts):
        raise ModelPathError(
            f"model name {name!r} is not a plain relative file name inside a models folder")
    return rel


def find_model(roots: ModelRoots, folder: str, name: str) -> Path:
    """The file for ``name`` in ``folder`` (any alias, any root), or a clear error."""
    rel = safe_relative(name)
    searched = roots.folders(folder)
    for base in searched:
        candidate = base.joinpath(*rel.parts)
        if candidate.is_file():
            return candidate
    for base in searched:  # saved on Windows or macOS, where names ignore case
        candidate = _case_insensitive(base, rel.parts)
        if candidate is not None:
            return candidate
    close = closest_names(searched, str(rel))
    if not searched:
        raise ModelPathError(f"{name!r}: no models folder to look in; give one with --models DIR, the WFRUN_MODELS "
                             "variable or an extra_model_paths.yaml")
    where = ", ".join(str(p) for p in searched)
    hint = f"; closest names there: {', '.join(close)}" if close else ""
    raise ModelPathError(f"{name!r} not found in the {folder} folders searched: {where}{hint}")


def _case_insensitive(base: Path, parts: tuple[str, ...]) -> Path | None:
    """The one file under ``base`` whose path equals ``parts`` but for case, if exactly one does."""
    current = [base]
    for part in parts:
        wanted = part.casefold()
        current = [child for folder in current if folder.is_dir()
                   for child in folder.iterdir() if child.name.casefold() == wanted]
    files = [path for path in current if path.is_file()]
    return files[0] if len(files) == 1 else None


def list_models(searched: list[Path]) -> list[str]:
    names: list[str] = []
    for base in searched:
        if base.is_dir():
            for path in base.rglob("*"):
                if path.is_file() and path.suffix.lower() in MODEL_SUFFIXES:
                    names.append(path.relative_to(base).as_posix())
    return names


def closest_names(searched: list[Path], wanted: str, limit: int = 3) -> list[str]:
    """Files in ``searched`` whose names look like ``wanted``: compared without the file
    suffix (every candidate shares ``.safetensors``) and case, by whole relative path or by
    file name alone (the same file in another sub-folder is the usual mistake)."""
    def key(name: str) -> tuple[str, str]:
        path = PurePosixPath(name.lower())
        stem = str(path.with_suffix("")) if path.suffix in MODEL_SUFFIXES else str(path)
        return stem, PurePosixPath(stem).name

    full, base = key(wanted)
    scored = []
    for name in dict.fromkeys(list_models(searched)):
        other_full, other_base = key(name)
        score = max(difflib.SequenceMatcher(None, full, other_full).ratio(),
                    difflib.SequenceMatcher(None, base, other_base).ratio())
        if score >= 0.6:
            scored.append((-score, name))
    return [name for _, name in sorted(scored)[:limit]]
