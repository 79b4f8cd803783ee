"""The Python files of one pack at one commit, as modules the interpreter can import.

Imports are resolved against the whole tree (not only the files scanned for nodes), so
``from .utils import scheduler_list`` or ComfyUI's ``comfy.samplers.KSampler.SAMPLERS``
evaluate to their real lists. A custom-node pack is a package (it has a root
``__init__.py``); its modules are named under a private prefix so that an absolute
``import nodes`` still means ComfyUI's ``nodes``, which is outside the tree. ComfyUI
itself has no root package and keeps plain module names.
"""

from __future__ import annotations

import ast
import re
from typing import Any, Callable, Mapping

from .static_eval import ExternalRef, Interpreter, ModuleCtx

#: The dotted name under which a pack's root package is imported.
PACK_ROOT = "__pack__"

#: Names from ComfyUI (or Python) that packs import and that have one known value.
KNOWN_EXTERNALS: dict[str, Any] = {
    "nodes.MAX_RESOLUTION": 16384,
    "comfy.nodes.MAX_RESOLUTION": 16384,
    "sys.maxsize": 2**63 - 1,
    "math.pi": 3.141592653589793,
    "math.e": 2.718281828459045,
}

#: ComfyUI's ``comfy.comfy_types.IO`` string enum, for packs that use ``IO.ANY`` etc.
_COMFY_IO_SPECIAL = {
    "ANY": "*",
    "NUMBER": "FLOAT,INT",
    "PRIMITIVE": "STRING,FLOAT,INT,BOOLEAN",
}


def _external_resolver(path: str) -> Any:
    parts = path.split(".")
    if len(parts) >= 2 and parts[-2] == "IO" and parts[0] == "comfy" and "comfy_types" in parts:
        name = parts[-1]
        if name.isupper() or "_" in name:
            return _COMFY_IO_SPECIAL.get(name, name)
    return NotImplemented


_SPLIT = re.compile(r"^(?:@|class\s|def\s|async\s+def\s)", re.M)


class ChunkParser:
    """``ast.parse`` that reuses the statements of unchanged top-level blocks.

    Most commits to a pack edit one class of a 5000-line ``nodes.py``; parsing the whole
    file again for each of hundreds of commits would dominate the history walk. The
    source is cut before each top-level ``class``/``def``/decorator line and each piece
    is parsed (and cached) on its own. A cut that falls inside a string or bracket
    leaves the piece before it unterminated, which fails to parse, and then the whole
    file is parsed the ordinary way, so the result always equals ``ast.parse``'s
    (line numbers aside, which nothing here uses).
    """

    def __init__(self) -> None:
        self.cache: dict[str, list[ast.stmt]] = {}

    def parse(self, text: str, path: str = "<pack>") -> ast.Module | None:
        starts = [m.start() for m in _SPLIT.finditer(text)]
        cuts = [0]
        for pos in starts:
            if pos == 0:
                continue
            prev_line_start = text.rfind("\n", 0, pos - 1) + 1
            if text.startswith("@", prev_line_start):
                continue  # keep decorators with what they decorate
            cuts.append(pos)
        cuts.append(len(text))
        body: list[ast.stmt] = []
        for a, b in zip(cuts, cuts[1:]):
            chunk = text[a:b]
            stmts = self.cache.get(chunk)
            if stmts is None:
                try:
                    stmts = ast.parse(chunk, filename=path).body
                except (SyntaxError, ValueError):
                    return _parse_whole(text, path)
                self.cache[chunk] = stmts
            body.extend(stmts)
        return ast.Module(body=body, type_ignores=[])


def _parse_whole(text: str, path: str) -> ast.Module | None:
    try:
        return ast.parse(text, filename=path)
    except (SyntaxError, ValueError):
        return None


class ParsedFile:
    """One source file: its text at once, its syntax tree on first use."""

    __slots__ = ("text", "path", "_tree", "_parse", "_parsed")

    def __init__(self, text: str, path: str = "<pack>",
                 parse: "Callable[[str, str], ast.Module | None] | None" = None):
        self.text = text
        self.path = path
        self._parse = parse or _parse_whole
        self._tree: ast.Module | None = None
        self._parsed = False

    @classmethod
    def from_bytes(cls, source: bytes | str, path: str = "<pack>",
                   parse: "Callable[[str, str], ast.Module | None] | None" = None) -> ParsedFile:
        text = source.decode("utf-8", "replace") if isinstance(source, bytes) else source
        return cls(text, path, parse)

    @property
    def tree(self) -> ast.Module | None:
        if not self._parsed:
            self._tree = self._parse(self.text, self.path)
            self._parsed = True
        return self._tree


def module_name(path: str, is_pack: bool) -> tuple[str, bool]:
    """``a/b/c.py`` -> (``a.b.c``, False); ``a/__init__.py`` -> (``a``, True)."""
    parts = path[:-3].split("/")
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    if is_pack:
        parts = [PACK_ROOT, *parts]
    return ".".join(parts), is_package


class Project:
    """Modules of one snapshot; each runs its top level at most once, on first import.

    ``files`` maps repository paths of ``.py`` files to an opaque key (the blob id);
    ``load(path)`` returns the :class:`ParsedFile` for a path. ``used`` collects the
    paths whose code was read, so the history walk knows which later changes matter.
    """

    def __init__(self, files: Mapping[str, Any], load: Callable[[str], ParsedFile | None]):
        self.files = files
        self.load = load
        self.is_pack = "__init__.py" in files
        self.paths_by_module: dict[str, str] = {}
        self.namespaces: set[str] = set()
        for path in files:
            if not path.endswith(".py"):
                continue
            name, _ = module_name(path, self.is_pack)
            if not all(p.isidentifier() for p in name.split(".")):
                continue
            self.paths_by_module[name] = path
            parts = name.split(".")
            for i in range(1, len(parts)):
                self.namespaces.add(".".join(parts[:i]))
        self.modules: dict[str, ModuleCtx] = {}
        self.used: set[str] = set()
        self.interp = Interpreter(self.resolve_module, externals=dict(KNOWN_EXTERNALS),
                                  external_resolver=_external_resolver)

    @property
    def root_module(self) -> str | None:
        return PACK_ROOT if self.is_pack else None

    def module_for_path(self, path: str) -> ModuleCtx | None:
        name, _ = module_name(path, self.is_pack)
        return self.resolve_module(name)

    def resolve_module(self, name: str) -> ModuleCtx | None:
        ctx = self.modules.get(name)
        if ctx is not None:
            return ctx
        path = self.paths_by_module.get(name)
        if path is None and self._own_folder_on_sys_path() and not name.startswith(PACK_ROOT + "."):
            # ``sys.path.insert(0, <pack folder>)`` in the root ``__init__.py`` (as
            # ComfyUI-Frame-Interpolation does) makes ``import vfi_utils`` the pack's own file
            alias = self.resolve_module(f"{PACK_ROOT}.{name}") if f"{PACK_ROOT}.{name}" in self.paths_by_module else None
            if alias is not None:
                self.modules[name] = alias
                return alias
        if path is None:
            if name in self.namespaces:
                ctx = ModuleCtx(name, name.replace(".", "/"), True, None)
                self.modules[name] = ctx
                self.interp.run_module(ctx)
                return ctx
            return None
        parsed = self.load(path)
        self.used.add(path)
        _, is_package = module_name(path, self.is_pack)
        ctx = ModuleCtx(name, path, is_package, parsed.tree if parsed is not None else None)
        self.modules[name] = ctx
        self.interp.run_module(ctx)
        return ctx

    def _own_folder_on_sys_path(self) -> bool:
        """Whether the pack's root ``__init__.py`` puts the pack's folder on ``sys.path``."""
        if not self.is_pack:
            return False
        cached = getattr(self, "_on_sys_path", None)
        if cached is None:
            text = self.text("__init__.py")
            cached = self._on_sys_path = "sys.path.insert" in text or "sys.path.append" in text
        return cached

    def text(self, path: str) -> str:
        parsed = self.load(path)
        return parsed.text if parsed is not None else ""


def is_external(value: Any, *fragments: str) -> bool:
    return isinstance(value, ExternalRef) and any(f in value.path for f in fragments)
