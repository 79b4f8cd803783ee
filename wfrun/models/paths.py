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
from typing import Any, Sequence

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
    "upscale_models": ("upscale_models",),
    # ComfyUI-Frame-Interpolation keeps its downloads in its own ckpts/rife/; wfrun reads <models>/rife/
    "rife": ("rife",),
    "film": ("film",),  # likewise its ckpts/film/
    # ComfyUI-GGUF's keys: the .gguf files of the diffusion model and text encoder folders
    "unet_gguf": ("diffusion_models", "unet"),
    "clip_gguf": ("text_encoders", "clip"),
    # calcuis' gguf pack: its VaeGGUF lists the .gguf files of the vae folder under this key,
    # its LoaderGGUF those of the diffusion model folders under model_gguf
    "vae_gguf": ("vae",),
    "model_gguf": ("diffusion_models", "unet"),
}

#: Folder keys that name no folder of their own, and the ComfyUI folder whose files they list.
VIEW_FOLDERS = {"unet_gguf": "diffusion_models", "clip_gguf": "text_encoders", "vae_gguf": "vae",
                "model_gguf": "diffusion_models"}

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
        kinds = [k for k in FOLDER_ALIASES if k not in LEGACY_FOLDERS and k not in VIEW_FOLDERS]
        kinds += [kind for kind, _, _ in self.extra if kind not in kinds]
        return {kind: self.folders(kind) for kind in dict.fromkeys(kinds)}


#: Limits for extra_model_paths.yaml, an untrusted file like any other: real ones are a few
#: kilobytes and a few dozen values. YAML aliases may repeat a node any number of times,
#: so a small file can stand for billions of values ("billion laughs"); the parser counts
#: values as if every alias were written out and stops at MAX_YAML_VALUES.
MAX_YAML_BYTES = 1024 * 1024
MAX_YAML_VALUES = 100_000
MAX_YAML_DEPTH = 32


def read_extra_model_paths(path: str | os.PathLike[str]) -> list[tuple[str, Path, bool]]:
    """``(folder, path, is_default)`` entries of a ComfyUI extra_model_paths.yaml.

    Anything wrong with the file is one :class:`ModelPathError` naming it, the line where
    the YAML parser or the value says, what was found and what belongs there."""
    path = Path(path)
    root, config = _parse_yaml(path, _read_text(path))
    if config is None:
        return []
    if not isinstance(config, dict):
        raise ModelPathError(f"{path}: expected named sections (a mapping) at the top level, found {_kind(config)}")
    lines = _key_lines(root)
    here = path.resolve().parent
    entries: list[tuple[str, Path, bool]] = []
    for section, conf in config.items():
        if conf is None:
            continue
        where = _where(path, lines, section)
        if isinstance(conf, (str, list)):  # a folder key at the top level, without a section
            conf = {section: conf}
        elif not isinstance(conf, dict):
            raise ModelPathError(
                f"{where}: {section!r} is {_kind(conf)}; expected a section (folder names with their paths) "
                "or the path(s) of one folder")
        conf = dict(conf)
        base = conf.pop("base_path", None)
        if base is not None:
            if not isinstance(base, str):
                raise ModelPathError(f"{_where(path, lines, section, 'base_path')}: base_path of {section!r} is "
                                     f"{_kind(base)}; expected a folder path (quote it if YAML reads it otherwise)")
            base = os.path.expandvars(os.path.expanduser(base))
            if not os.path.isabs(base):
                base = os.path.join(here, base)
        default = conf.pop("is_default", False)
        if not isinstance(default, bool):
            raise ModelPathError(f"{_where(path, lines, section, 'is_default')}: is_default of {section!r} is "
                                 f"{_kind(default)}; expected true or false")
        for key, value in conf.items():
            if not isinstance(key, str):
                raise ModelPathError(f"{_where(path, lines, section, key)}: a folder name in {section!r} is "
                                     f"{_kind(key)}; expected a name "
                                     "such as diffusion_models, vae or loras")
            for line in _lines(value, f"{_where(path, lines, section, key)}: {key!r} in {section!r}"):
                full = os.path.join(base, line) if base else (
                    line if os.path.isabs(line) else os.path.join(here, line))
                entries.append((LEGACY_FOLDERS.get(key, key), Path(os.path.normpath(full)), default))
    return entries


def _read_text(path: Path) -> str:
    """The file as text: at most MAX_YAML_BYTES, UTF-8 (a byte-order mark is allowed)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_YAML_BYTES + 1)
    except OSError as err:
        raise ModelPathError(f"{path}: cannot be read ({err.strerror})") from None
    if len(data) > MAX_YAML_BYTES:
        raise ModelPathError(f"{path}: larger than {MAX_YAML_BYTES // 1024} KiB; an extra_model_paths.yaml lists "
                             "folders and is a few kilobytes: is this the right file?")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise ModelPathError(f"{path}: not UTF-8 text (byte {err.start} on line {line}); save it as UTF-8") from None


def _parse_yaml(path: Path, text: str) -> tuple[Any, Any]:
    """The composed root node (for line numbers) and the data, or one clear error."""
    import yaml

    loader = _bounded_loader()(text)
    try:
        root = loader.get_single_node()
        return root, (loader.construct_document(root) if root is not None else None)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f" at line {mark.line + 1}" if mark is not None else ""
        why = f": {err.problem}" if err.problem else ""
        raise ModelPathError(f"{path}: not valid YAML{where}{why}") from None
    except yaml.YAMLError as err:
        raise ModelPathError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    except RecursionError:
        raise ModelPathError(f"{path}: not valid YAML (nested too deeply)") from None
    finally:
        loader.dispose()


_LOADER: type | None = None


def _bounded_loader() -> type:
    """yaml.SafeLoader that counts each node as if every alias in it were written out,
    refusing a document above MAX_YAML_VALUES values, nested deeper than MAX_YAML_DEPTH, or
    with an alias inside the node it names (a loop). Composition stays linear in the file."""
    global _LOADER
    if _LOADER is not None:
        return _LOADER
    import yaml

    class BoundedLoader(yaml.SafeLoader):
        def __init__(self, stream: str):
            super().__init__(stream)
            self._sizes: dict[int, int] = {}
            self._depth = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            event = self.peek_event()
            if isinstance(event, yaml.AliasEvent):
                target = self.anchors.get(event.anchor)
                if target is not None and id(target) not in self._sizes:
                    raise yaml.composer.ComposerError(
                        None, None, f"alias *{event.anchor} is used inside the node it names (a loop)",
                        event.start_mark)
                return super().compose_node(parent, index)
            self._depth += 1
            if self._depth > MAX_YAML_DEPTH:
                raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_YAML_DEPTH} levels",
                                                  event.start_mark)
            node = super().compose_node(parent, index)
            self._depth -= 1
            children = node.value if isinstance(node, yaml.SequenceNode) else (
                [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else [])
            size = 1 + sum(self._sizes[id(child)] for child in children)
            if size > MAX_YAML_VALUES:
                raise yaml.composer.ComposerError(
                    None, None, f"its aliases expand to more than {MAX_YAML_VALUES:,} values", node.start_mark)
            self._sizes[id(node)] = size
            return node

    _LOADER = BoundedLoader
    return _LOADER


def _key_lines(root: Any) -> dict[tuple[str, ...], int]:
    """1-based line of each top-level key and each key one level below, for messages."""
    import yaml

    lines: dict[tuple[str, ...], int] = {}
    if not isinstance(root, yaml.MappingNode):
        return lines
    for key, value in root.value:
        if isinstance(key, yaml.ScalarNode):
            lines[(key.value,)] = key.start_mark.line + 1
            if isinstance(value, yaml.MappingNode):
                for inner, _ in value.value:
                    if isinstance(inner, yaml.ScalarNode):
                        lines[(key.value, inner.value)] = inner.start_mark.line + 1
    return lines


def _where(path: Path, lines: dict[tuple[str, ...], int], *keys: Any) -> str:
    line = lines.get(tuple(str(k) for k in keys))
    return f"{path}, line {line}" if line is not None else str(path)


def _kind(value: object) -> str:
    """How a YAML value reads to a person: 'a number (5)', 'a list', ..."""
    if isinstance(value, bool):
        return f"true/false ({str(value).lower()})"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"text ({value[:60]!r})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__} value"


def _lines(value: object, what: str) -> list[str]:
    """A folder value: one path per line (YAML ``|`` blocks), or a list of paths."""
    if value is None:
        return []
    if isinstance(value, str):
        items = value.split("\n")
    elif isinstance(value, list):
        items = value
        for number, item in enumerate(items, 1):
            if not isinstance(item, str):
                raise ModelPathError(f"{what}: item {number} is {_kind(item)}; expected a folder path")
    else:
        raise ModelPathError(f"{what} is {_kind(value)}; expected a folder path, several on separate lines, "
                             "or a list of them")
    return [item.strip() for item in items if item.strip()]


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


def find_model_folder(searched: list[Path], name: str, what: str) -> Path:
    """The folder ``name`` (one plain folder name, checked by the caller) in the first of
    ``searched`` that has it, else the one folder there whose name equals it but for case
    (saved on Windows or macOS); ``what`` names the folders in the error (``"the LLM models
    folders"``). Models kept as whole folders (Florence-2, Qwen-VL) are found this way."""
    for base in searched:
        if (base / name).is_dir():
            return base / name
    for base in searched:
        if base.is_dir():
            same = [c for c in base.iterdir() if c.is_dir() and c.name.casefold() == name.casefold()]
            if len(same) == 1:
                return same[0]
    if not searched:
        raise ModelPathError(f"{name!r}: no models folder to look in; give one with --models DIR")
    raise ModelPathError(f"no folder {name!r} in {what} searched: " + ", ".join(str(p) for p in searched))


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
