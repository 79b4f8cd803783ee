"""A small interpreter for the side-effect-free part of Python that node packs use to
declare their inputs.

Node packs import torch and ComfyUI, so we can never import them to ask what a node
looks like. Their ``INPUT_TYPES`` are nevertheless almost always plain data built from
literals, module constants, ``folder_paths.get_filename_list(...)`` and a few dict
updates. This module evaluates exactly that much from the ``ast``: literals, names,
arithmetic, comprehensions over known data, dict/list mutation, ``if``/``for``/``try``
bodies, and calls of the pack's own small functions. Anything else (a call into torch,
a file listing, a network request) becomes :data:`UNKNOWN` instead of failing, so one
odd input never hides the rest of a node.

Nothing here runs the pack's code: only whitelisted pure builtins and methods of plain
values that the interpreter itself built are ever called, and every loop, string and
recursion has a budget.
"""

from __future__ import annotations

import ast
import operator
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

__all__ = [
    "UNKNOWN",
    "Unknown",
    "FolderList",
    "ExternalRef",
    "ModuleRef",
    "ClassInfo",
    "FunctionRef",
    "BoundMethod",
    "Scope",
    "Interpreter",
    "is_known",
]


class Unknown:
    """A value the interpreter could not work out statically."""

    _instance: Unknown | None = None

    def __new__(cls) -> Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __bool__(self) -> bool:  # pragma: no cover - guard against accidental truth tests
        raise TypeError("UNKNOWN has no truth value; test with `is UNKNOWN`")


UNKNOWN = Unknown()


@dataclass
class FolderList:
    """``folder_paths.get_filename_list(folder)`` and lists derived from it; with no
    ``folders``, a list of which only the ``fixed`` part is known.

    ``folders`` are the model folders concatenated in order; ``fixed`` are literal
    options added around them (``["none"] + get_filename_list("loras")``, or
    ``.append("pixel_space")``); ``dynamic`` is set when further options were added
    that could not be worked out (a loop over the folder's files).
    """

    folders: tuple[str, ...]
    fixed: list[Any] = field(default_factory=list)
    dynamic: bool = False

    def copy(self) -> FolderList:
        return FolderList(self.folders, list(self.fixed), self.dynamic)


@dataclass(frozen=True)
class ExternalRef:
    """A name that comes from outside the scanned tree (``torch``, ``comfy``,
    ``folder_paths``...), kept as its dotted path so known constants can be looked up."""

    path: str


@dataclass(frozen=True)
class ModuleRef:
    """A module of the scanned tree, by dotted name."""

    name: str


@dataclass
class LazyImport:
    """``from .x import y`` bound before ``x`` is evaluated; resolved on first use so
    import cycles and unused imports cost nothing."""

    module: str
    attr: str | None  # None: the module itself


@dataclass(eq=False)
class FunctionRef:
    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
    scope: Scope  # the defining scope (module scope for methods)
    owner: ClassInfo | None = None
    kind: str = "function"  # "function" | "classmethod" | "staticmethod" | "property"

    @property
    def name(self) -> str:
        return getattr(self.node, "name", "<lambda>")


@dataclass(eq=False)
class BoundMethod:
    func: FunctionRef
    self_value: Any


@dataclass(eq=False)
class BuiltinMethod:
    """A whitelisted method of a plain value (``list.append``, ``str.upper``...)."""

    target: Any
    name: str


@dataclass(eq=False)
class Instance:
    """An instance of a scanned class (``SomeType("*")`` style helpers); attributes are
    looked up on the class."""

    cls: ClassInfo
    args: tuple = ()


class Scope:
    """Variables of one module, class body or function call."""

    __slots__ = ("vars", "parent", "module", "kind")

    def __init__(self, module: ModuleCtx, parent: Scope | None = None, kind: str = "module"):
        self.vars: dict[str, Any] = {}
        self.parent = parent
        self.module = module
        self.kind = kind


@dataclass(eq=False)
class ModuleCtx:
    """One scanned module while it is being evaluated."""

    name: str
    path: str
    is_package: bool
    tree: ast.Module | None
    scope: Scope | None = None
    star_imports: list[str] = field(default_factory=list)
    state: str = "new"  # new | running | done

    @property
    def package(self) -> str:
        if self.is_package:
            return self.name
        return self.name.rpartition(".")[0]


@dataclass(eq=False)
class ClassInfo:
    """A class statement of the scanned tree, with its body evaluated on demand."""

    name: str
    node: ast.ClassDef
    scope: Scope  # the scope the class statement ran in
    interp: Interpreter
    _attrs: dict[str, Any] | None = None
    _bases: list[Any] | None = None
    _evaluating: bool = False

    @property
    def module(self) -> ModuleCtx:
        return self.scope.module

    def bases(self) -> list[Any]:
        if self._bases is None:
            self._bases = [self.interp.eval(b, self.scope) for b in self.node.bases]
        return self._bases

    def base_names(self) -> list[str]:
        """Names of the bases as written (``str``, ``Enum``, ``io.ComfyNode``)."""
        out = []
        for b in self.node.bases:
            if isinstance(b, ast.Subscript):  # ``dict[str, Any]``: the generic's own name
                b = b.value
            if isinstance(b, ast.Name):
                out.append(b.id)
            elif isinstance(b, ast.Attribute):
                out.append(b.attr)
        return out

    def attrs(self) -> dict[str, Any]:
        if self._attrs is None:
            if self._evaluating:
                return {}
            self._evaluating = True
            body_scope = Scope(self.scope.module, parent=self.scope, kind="class")
            try:
                for stmt in self.node.body:
                    try:
                        self.interp.exec_stmt(stmt, body_scope, owner=self)
                    except (_Abort, _Return, _Break, _Continue):
                        continue
            finally:
                self._attrs = body_scope.vars
                self._evaluating = False
        return self._attrs

    def mro(self, _depth: int = 0) -> list[ClassInfo]:
        out = [self]
        if _depth > 20:
            return out
        for b in self.bases():
            if isinstance(b, ClassInfo) and b is not self:
                for c in b.mro(_depth + 1):
                    if c not in out:
                        out.append(c)
        return out

    def lookup(self, name: str, default: Any = UNKNOWN) -> Any:
        for c in self.mro():
            attrs = c.attrs()
            if name in attrs:
                return attrs[name]
        return default

    def has_own_or_inherited(self, name: str) -> bool:
        return any(name in c.attrs() for c in self.mro())

    @property
    def is_enum(self) -> bool:
        names = set()
        for c in self.mro():
            names.update(c.base_names())
        return bool(names & {"Enum", "StrEnum", "IntEnum"})

    @property
    def is_str_subclass(self) -> bool:
        return self.is_subclass_of("str")

    def is_subclass_of(self, builtin_name: str) -> bool:
        return any(builtin_name in c.base_names() for c in self.mro())


class _Return(Exception):
    def __init__(self, value: Any):
        self.value = value


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _Abort(Exception):
    """Budget exhausted or an unsupported construct that makes the rest meaningless."""


def is_known(value: Any) -> bool:
    """Whether ``value`` is plain data all the way down (no UNKNOWN inside)."""
    if value is UNKNOWN or isinstance(value, (ExternalRef, LazyImport)):
        return False
    if isinstance(value, (list, tuple, set, frozenset)):
        return all(is_known(v) for v in value)
    if isinstance(value, dict):
        return all(is_known(k) and is_known(v) for k, v in value.items())
    return True


_PLAIN = (str, int, float, bool, type(None), bytes)
_MAX_LEN = 100_000
_MAX_ITER = 20_000

_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.LShift: operator.lshift,
    ast.RShift: operator.rshift,
    ast.BitOr: operator.or_,
    ast.BitAnd: operator.and_,
    ast.BitXor: operator.xor,
}

_CMPOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}

_SAFE_METHODS: dict[type, frozenset[str]] = {
    str: frozenset(
        "upper lower strip lstrip rstrip replace split rsplit join format startswith endswith "
        "title capitalize zfill splitlines casefold removeprefix removesuffix partition "
        "rpartition isdigit isalpha".split()
    ),
    list: frozenset("append extend insert index count copy pop remove sort reverse clear".split()),
    tuple: frozenset("index count".split()),
    dict: frozenset("keys values items get update copy setdefault pop clear".split()),
    set: frozenset("add update union discard copy difference intersection".split()),
}


def _size_ok(value: Any) -> bool:
    if isinstance(value, (str, bytes, list, tuple, dict, set)):
        return len(value) <= _MAX_LEN
    if isinstance(value, int) and not isinstance(value, bool):
        return value.bit_length() <= 4096
    return True


class Interpreter:
    """Evaluates expressions and runs statement blocks of scanned modules.

    ``resolve_module(name)`` returns the :class:`ModuleCtx` of a scanned module (running
    its top level first) or ``None`` for modules outside the tree. ``externals`` maps
    dotted paths of outside names to known constants (``nodes.MAX_RESOLUTION``).
    ``call_hooks`` may intercept calls (the V3 ``io.*`` builders) before the generic
    rules; a hook returns ``NotImplemented`` to decline.
    """

    def __init__(
        self,
        resolve_module: Callable[[str], ModuleCtx | None],
        externals: dict[str, Any] | None = None,
        external_resolver: Callable[[str], Any] | None = None,
        step_budget: int = 200_000,
    ):
        self.resolve_module = resolve_module
        self.externals = externals or {}
        self.external_resolver = external_resolver
        self.call_hooks: list[Callable[[Interpreter, Any, list, dict, ast.Call, Scope], Any]] = []
        self.attr_hooks: list[Callable[[Interpreter, Any, str], Any]] = []
        self.step_budget = step_budget
        self.steps = 0
        self.depth = 0

    # ------------------------------------------------------------------ helpers
    def _tick(self, n: int = 1) -> None:
        self.steps += n
        if self.steps > self.step_budget:
            raise _Abort("step budget exhausted")

    def reset_budget(self) -> None:
        self.steps = 0

    def external(self, path: str) -> Any:
        if path in self.externals:
            return self.externals[path]
        if self.external_resolver is not None:
            value = self.external_resolver(path)
            if value is not NotImplemented:
                return value
        return ExternalRef(path)

    # ------------------------------------------------------------------ names
    def lookup(self, name: str, scope: Scope) -> Any:
        s: Scope | None = scope
        while s is not None:
            if s.kind == "class" and s is not scope:
                # Python functions do not see the class body around them.
                s = s.parent
                continue
            if name in s.vars:
                value = s.vars[name]
                if isinstance(value, LazyImport):
                    value = self.resolve_lazy(value)
                    s.vars[name] = value
                return value
            if s.kind == "module":
                for star in s.module.star_imports:
                    mod = self.resolve_module(star)
                    if mod is not None and mod.scope is not None and name in mod.scope.vars:
                        return self.lookup(name, mod.scope)
            s = s.parent
        return _BUILTIN_VALUES.get(name, UNKNOWN)

    def resolve_lazy(self, lazy: LazyImport) -> Any:
        if lazy.attr is None:
            mod = self.resolve_module(lazy.module)
            return ModuleRef(lazy.module) if mod is not None else self.external(lazy.module)
        mod = self.resolve_module(lazy.module)
        if mod is None:
            return self.external(f"{lazy.module}.{lazy.attr}")
        # ``from . import sigmas`` in a package's own ``__init__`` binds the name it asks
        # for: that binding is the import itself, not a value, so look for the submodule.
        own = mod.scope is not None and mod.scope.vars.get(lazy.attr) == lazy
        if mod.scope is not None and not own and (lazy.attr in mod.scope.vars or mod.star_imports):
            value = self.lookup(lazy.attr, mod.scope)
            if value is not UNKNOWN or lazy.attr in mod.scope.vars:
                return value
        # ``from package import submodule``
        sub = f"{lazy.module}.{lazy.attr}" if lazy.module else lazy.attr
        if self.resolve_module(sub) is not None:
            return ModuleRef(sub)
        return UNKNOWN

    def module_attr(self, ref: ModuleRef, attr: str) -> Any:
        mod = self.resolve_module(ref.name)
        if mod is None:
            return self.external(f"{ref.name}.{attr}")
        if mod.scope is not None:
            value = self.lookup(attr, mod.scope)
            if value is not UNKNOWN:
                return value
        sub = f"{ref.name}.{attr}"
        if self.resolve_module(sub) is not None:
            return ModuleRef(sub)
        return UNKNOWN

    # ------------------------------------------------------------------ expressions
    def eval(self, node: ast.AST | None, scope: Scope) -> Any:
        if node is None:
            return None
        self._tick()
        try:
            method = getattr(self, "_eval_" + type(node).__name__, None)
            if method is None:
                return UNKNOWN
            value = method(node, scope)
        except (_Return, _Break, _Continue, _Abort):
            raise
        except RecursionError:
            raise _Abort("recursion") from None
        except Exception:
            return UNKNOWN
        if not _size_ok(value):
            return UNKNOWN
        return value

    def _eval_Constant(self, node: ast.Constant, scope: Scope) -> Any:
        if node.value is Ellipsis:
            return UNKNOWN
        return node.value

    def _eval_Name(self, node: ast.Name, scope: Scope) -> Any:
        return self.lookup(node.id, scope)

    def _eval_Attribute(self, node: ast.Attribute, scope: Scope) -> Any:
        return self.getattr(self.eval(node.value, scope), node.attr)

    def getattr(self, base: Any, attr: str) -> Any:
        for hook in self.attr_hooks:
            value = hook(self, base, attr)
            if value is not NotImplemented:
                return value
        if base is UNKNOWN:
            return UNKNOWN
        if isinstance(base, ExternalRef):
            return self.external(f"{base.path}.{attr}")
        if isinstance(base, ModuleRef):
            return self.module_attr(base, attr)
        if isinstance(base, ClassInfo):
            if attr == "__name__":
                return base.name
            value = base.lookup(attr)
            if isinstance(value, FunctionRef):
                if value.kind == "classmethod":
                    return BoundMethod(value, base)
                if value.kind == "property":
                    return UNKNOWN
            return value
        if isinstance(base, _Super):
            cls = base.target if isinstance(base.target, ClassInfo) else base.target.cls \
                if isinstance(base.target, Instance) else None
            if cls is None:
                return UNKNOWN
            mro = cls.mro()
            after = mro[mro.index(base.owner) + 1:] if base.owner in mro else []
            for c in after:
                attrs = c.attrs()
                if attr in attrs:
                    value = attrs[attr]
                    if isinstance(value, FunctionRef):
                        if value.kind == "staticmethod":
                            return value
                        if value.kind == "classmethod":
                            return BoundMethod(value, cls)
                        return BoundMethod(value, base.target)
                    return value
            return UNKNOWN
        if isinstance(base, Instance):
            value = base.cls.lookup(attr)
            if isinstance(value, FunctionRef):
                if value.kind == "classmethod":
                    return BoundMethod(value, base.cls)
                if value.kind == "staticmethod":
                    return value
                return BoundMethod(value, base) if value.kind == "function" else UNKNOWN
            return value
        if isinstance(base, _PLAIN) and attr in ("value", "name") and not isinstance(base, bool):
            # Members of a scanned ``Enum`` evaluate to their raw value; ``.value`` keeps it.
            return base if attr == "value" else UNKNOWN
        if isinstance(base, FolderList) and attr in _FOLDER_METHODS:
            return BuiltinMethod(base, attr)
        for typ, names in _SAFE_METHODS.items():
            if type(base) is typ and attr in names:
                return BuiltinMethod(base, attr)
        return UNKNOWN

    def _eval_UnaryOp(self, node: ast.UnaryOp, scope: Scope) -> Any:
        v = self.eval(node.operand, scope)
        if not isinstance(v, _PLAIN):
            return UNKNOWN
        if isinstance(node.op, ast.USub):
            return -v
        if isinstance(node.op, ast.UAdd):
            return +v
        if isinstance(node.op, ast.Not):
            return not v
        if isinstance(node.op, ast.Invert):
            return ~v
        return UNKNOWN

    def _eval_BinOp(self, node: ast.BinOp, scope: Scope) -> Any:
        left = self.eval(node.left, scope)
        right = self.eval(node.right, scope)
        return self.binop(node.op, left, right)

    def binop(self, op: ast.operator, left: Any, right: Any) -> Any:
        if isinstance(op, ast.Add) and (isinstance(left, FolderList) or isinstance(right, FolderList)):
            return _concat_folder(left, right)
        if isinstance(op, ast.Add) and (
            (isinstance(left, list) and right is UNKNOWN) or (left is UNKNOWN and isinstance(right, list))
        ):
            # ``["image/gif", "image/webp"] + ffmpeg_formats``: keep the literal options
            return _concat_folder(left, right)
        if left is UNKNOWN or right is UNKNOWN:
            return UNKNOWN
        fn = _BINOPS.get(type(op))
        if fn is None:
            return UNKNOWN
        plain = (str, int, float, bool, list, tuple, dict, set, frozenset, bytes, type(None))
        if not isinstance(left, plain) or not isinstance(right, plain):
            return UNKNOWN
        if isinstance(op, ast.Pow) and isinstance(right, (int, float)) and abs(right) > 4096:
            return UNKNOWN
        if isinstance(op, (ast.Mult, ast.LShift)):
            for a, b in ((left, right), (right, left)):
                if isinstance(a, (str, list, tuple, bytes)) and isinstance(b, int) and len(a) * b > _MAX_LEN:
                    return UNKNOWN
            if isinstance(op, ast.LShift) and isinstance(right, int) and right > 4096:
                return UNKNOWN
        if isinstance(op, ast.Mod) and isinstance(left, str) and not is_known(right):
            return UNKNOWN
        return fn(left, right)

    def _eval_BoolOp(self, node: ast.BoolOp, scope: Scope) -> Any:
        is_and = isinstance(node.op, ast.And)
        value: Any = None
        for v_node in node.values:
            value = self.eval(v_node, scope)
            truth = _truth(value)
            if truth is None:
                return UNKNOWN
            if is_and and not truth:
                return value
            if not is_and and truth:
                return value
        return value

    def _eval_Compare(self, node: ast.Compare, scope: Scope) -> Any:
        left = self.eval(node.left, scope)
        for op, comp in zip(node.ops, node.comparators):
            right = self.eval(comp, scope)
            if not is_known(left) or not is_known(right):
                return UNKNOWN
            if not isinstance(left, (*_PLAIN, list, tuple, dict, set)) or not isinstance(
                right, (*_PLAIN, list, tuple, dict, set)
            ):
                return UNKNOWN
            fn = _CMPOPS.get(type(op))
            if fn is None:
                return UNKNOWN
            if not fn(left, right):
                return False
            left = right
        return True

    def _eval_IfExp(self, node: ast.IfExp, scope: Scope) -> Any:
        truth = _truth(self.eval(node.test, scope))
        if truth is None:
            return UNKNOWN
        return self.eval(node.body if truth else node.orelse, scope)

    def _eval_List(self, node: ast.List, scope: Scope) -> Any:
        return self._seq(node.elts, scope)

    def _eval_Tuple(self, node: ast.Tuple, scope: Scope) -> Any:
        v = self._seq(node.elts, scope)
        return tuple(v) if isinstance(v, list) else v

    def _eval_Set(self, node: ast.Set, scope: Scope) -> Any:
        v = self._seq(node.elts, scope)
        if isinstance(v, list):
            try:
                return set(v)
            except TypeError:
                return UNKNOWN
        return v

    def _seq(self, elts: list[ast.expr], scope: Scope) -> Any:
        out: list[Any] = []
        for e in elts:
            if isinstance(e, ast.Starred):
                v = self.eval(e.value, scope)
                if isinstance(v, FolderList):
                    # [*a, *get_filename_list(x)]: keep the folder, literal items as fixed
                    return _concat_folder(out, v)
                items = self.iterate(v)
                if items is None:
                    out.append(UNKNOWN)
                else:
                    out.extend(items)
            else:
                out.append(self.eval(e, scope))
        return out

    def _eval_Dict(self, node: ast.Dict, scope: Scope) -> Any:
        out: dict[Any, Any] = {}
        for k, v in zip(node.keys, node.values):
            if k is None:  # **spread
                spread = self.eval(v, scope)
                if isinstance(spread, dict):
                    out.update(spread)
                continue
            key = self.eval(k, scope)
            value = self.eval(v, scope)
            try:
                out[key] = value
            except TypeError:
                continue
        return out

    def _eval_Subscript(self, node: ast.Subscript, scope: Scope) -> Any:
        base = self.eval(node.value, scope)
        if isinstance(node.slice, ast.Slice):
            lo = self.eval(node.slice.lower, scope)
            hi = self.eval(node.slice.upper, scope)
            st = self.eval(node.slice.step, scope)
            if isinstance(base, FolderList):
                return base.copy()
            if isinstance(base, (list, tuple, str)) and all(
                x is None or isinstance(x, int) for x in (lo, hi, st)
            ):
                return base[lo:hi:st]
            return UNKNOWN
        key = self.eval(node.slice, scope)
        if isinstance(base, dict):
            try:
                return base.get(key, UNKNOWN)
            except TypeError:
                return UNKNOWN
        if isinstance(base, (list, tuple, str)) and isinstance(key, int):
            try:
                return base[key]
            except IndexError:
                return UNKNOWN
        return UNKNOWN

    def _eval_JoinedStr(self, node: ast.JoinedStr, scope: Scope) -> Any:
        parts = []
        for v in node.values:
            if isinstance(v, ast.Constant):
                parts.append(str(v.value))
                continue
            if not isinstance(v, ast.FormattedValue):
                return UNKNOWN
            value = self.eval(v.value, scope)
            if not isinstance(value, (str, int, float, bool, type(None))):
                return UNKNOWN
            if v.conversion == ord("r"):
                value = repr(value)
            elif v.conversion == ord("s"):
                value = str(value)
            elif v.conversion == ord("a"):
                value = ascii(value)
            spec = ""
            if v.format_spec is not None:
                spec = self.eval(v.format_spec, scope)
                if not isinstance(spec, str):
                    return UNKNOWN
            parts.append(format(value, spec))
        return "".join(parts)

    def _eval_Lambda(self, node: ast.Lambda, scope: Scope) -> Any:
        return FunctionRef(node, scope)

    def _eval_Starred(self, node: ast.Starred, scope: Scope) -> Any:
        return UNKNOWN

    def _eval_NamedExpr(self, node: ast.NamedExpr, scope: Scope) -> Any:
        value = self.eval(node.value, scope)
        self.assign(node.target, value, scope)
        return value

    # comprehensions
    def _comprehension(self, generators: list[ast.comprehension], scope: Scope, emit: Callable[[Scope], None]) -> Any:
        """Run nested ``for`` clauses; return a FolderList if the first iterable is one."""
        inner = Scope(scope.module, parent=scope, kind="function")
        first = self.eval(generators[0].iter, scope)
        if isinstance(first, FolderList):
            return first.copy()
        count = [0]

        def run(level: int, iterable: Any) -> None:
            gen = generators[level]
            items = self.iterate(iterable)
            if items is None:
                raise _Unknowable()
            for item in items:
                count[0] += 1
                if count[0] > _MAX_ITER:
                    raise _Unknowable()
                self.assign(gen.target, item, inner)
                ok = True
                for cond in gen.ifs:
                    truth = _truth(self.eval(cond, inner))
                    if truth is None:
                        raise _Unknowable()
                    if not truth:
                        ok = False
                        break
                if not ok:
                    continue
                if level + 1 < len(generators):
                    run(level + 1, self.eval(generators[level + 1].iter, inner))
                else:
                    emit(inner)

        try:
            run(0, first)
        except _Unknowable:
            return UNKNOWN
        return None

    def _eval_ListComp(self, node: ast.ListComp, scope: Scope) -> Any:
        out: list[Any] = []
        r = self._comprehension(node.generators, scope, lambda s: out.append(self.eval(node.elt, s)))
        return r if r is not None else out

    _eval_GeneratorExp = _eval_ListComp

    def _eval_SetComp(self, node: ast.SetComp, scope: Scope) -> Any:
        out = self._eval_ListComp(node, scope)  # type: ignore[arg-type]
        if isinstance(out, list):
            try:
                return set(out)
            except TypeError:
                return UNKNOWN
        return out

    def _eval_DictComp(self, node: ast.DictComp, scope: Scope) -> Any:
        out: dict[Any, Any] = {}

        def emit(s: Scope) -> None:
            k = self.eval(node.key, s)
            try:
                out[k] = self.eval(node.value, s)
            except TypeError:
                raise _Unknowable() from None

        r = self._comprehension(node.generators, scope, emit)
        if isinstance(r, FolderList):
            return UNKNOWN
        return r if r is not None else out

    def iterate(self, value: Any) -> list[Any] | None:
        """The items of a known iterable, or None."""
        if isinstance(value, (list, tuple, str)):
            return list(value)
        if isinstance(value, dict):
            return list(value.keys())
        if isinstance(value, (set, frozenset)):
            try:
                return sorted(value)
            except TypeError:
                return list(value)
        if isinstance(value, range):
            if len(value) > _MAX_ITER:
                return None
            return list(value)
        if isinstance(value, _DictView):
            return value.items()
        if isinstance(value, ClassInfo) and value.is_enum:
            return [v for k, v in value.attrs().items()
                    if not k.startswith("_") and not isinstance(v, (FunctionRef, ClassInfo))]
        return None

    # calls
    def _eval_Call(self, node: ast.Call, scope: Scope) -> Any:
        if isinstance(node.func, ast.Name) and node.func.id == "super" and not node.args:
            return self._super(scope)
        func = self.eval(node.func, scope)
        args: list[Any] = []
        for a in node.args:
            if isinstance(a, ast.Starred):
                items = self.iterate(self.eval(a.value, scope))
                if items is None:
                    return UNKNOWN if not self.call_hooks else self._hooked(func, None, None, node, scope)
                args.extend(items)
            else:
                args.append(self.eval(a, scope))
        kwargs: dict[str, Any] = {}
        for kw in node.keywords:
            if kw.arg is None:
                spread = self.eval(kw.value, scope)
                if isinstance(spread, dict):
                    kwargs.update({k: v for k, v in spread.items() if isinstance(k, str)})
                continue
            kwargs[kw.arg] = self.eval(kw.value, scope)
        return self._hooked(func, args, kwargs, node, scope)

    def _super(self, scope: Scope) -> Any:
        """Zero-argument ``super()`` inside a method: the owner class and the first
        argument (``cls`` or ``self``) are kept in the call's scope."""
        owner = scope.vars.get("__class__")
        target = scope.vars.get("__self__")
        if not isinstance(owner, ClassInfo) or target is None:
            return UNKNOWN
        return _Super(owner, target)

    def _hooked(self, func: Any, args: list | None, kwargs: dict | None, node: ast.Call, scope: Scope) -> Any:
        for hook in self.call_hooks:
            value = hook(self, func, args, kwargs, node, scope)
            if value is not NotImplemented:
                return value
        if args is None or kwargs is None:
            return UNKNOWN
        return self.call(func, args, kwargs)

    def call(self, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
        if isinstance(func, ExternalRef):
            return self._call_external(func, args, kwargs)
        if isinstance(func, _Builtin):
            return func.fn(self, args, kwargs)
        if isinstance(func, BuiltinMethod):
            return self._call_method(func, args, kwargs)
        if isinstance(func, BoundMethod):
            return self.call_function(func.func, [func.self_value, *args], kwargs)
        if isinstance(func, FunctionRef):
            if func.owner is None and func.scope.module.name.rsplit(".", 1)[-1] == "folder_paths":
                # ComfyUI's own folder_paths.py is in its tree; its answers depend on the
                # disk, so treat it as the outside API it is.
                return self._call_external(ExternalRef(f"folder_paths.{func.name}"), args, kwargs)
            if func.kind == "classmethod" and func.owner is not None:
                return self.call_function(func, [func.owner, *args], kwargs)
            return self.call_function(func, args, kwargs)
        if isinstance(func, ClassInfo):
            # ``AnyType("*")``, ``MultiInput("IMAGE", [...])``: str subclasses used as
            # type names evaluate to the string itself; ``ContainsAll({...})`` and other
            # dict/list/tuple subclasses to the data they wrap (``ByPassTypeTuple((...))``,
            # Easy-Use's and others' RETURN_TYPES that answer any index: the frontend
            # lists the tuple's own items).
            if func.is_str_subclass and args and isinstance(args[0], str):
                return args[0]
            for base, typ in (("dict", dict), ("list", list), ("tuple", tuple)):
                if func.is_subclass_of(base) and len(args) == 1 and isinstance(args[0], typ):
                    return typ(args[0])
            if func.is_subclass_of("dict") and not kwargs and not any(isinstance(a, (dict, list)) for a in args):
                # ``FlexibleOptionalInputType(any_type)`` (rgthree's, copied by other packs):
                # a dict that declares no keys of its own and accepts any input by name; the
                # frontend lists no widgets from it.
                return {}
            return Instance(func, tuple(args))
        return UNKNOWN

    def _call_external(self, func: ExternalRef, args: list[Any], kwargs: dict[str, Any]) -> Any:
        name = func.path.rsplit(".", 1)[-1]
        if name == "get_filename_list" and len(args) == 1 and isinstance(args[0], str):
            return FolderList((args[0],))
        return UNKNOWN

    def _call_method(self, m: BuiltinMethod, args: list[Any], kwargs: dict[str, Any]) -> Any:
        target = m.target
        if isinstance(target, FolderList):
            return _folder_method(target, m.name, args)
        mutating = m.name in {"append", "extend", "insert", "pop", "remove", "sort", "reverse", "clear",
                              "update", "setdefault", "add", "discard"}
        if not mutating and not (is_known(args) and is_known(kwargs)):
            return UNKNOWN
        if isinstance(target, dict) and m.name == "update":
            for a in args:
                if isinstance(a, dict):
                    target.update(a)
                elif isinstance(a, list) and all(isinstance(x, (tuple, list)) and len(x) == 2 for x in a):
                    target.update(a)
            target.update(kwargs)
            return None
        if isinstance(target, list) and m.name == "extend" and args:
            if isinstance(args[0], FolderList):
                return UNKNOWN
            items = self.iterate(args[0])
            target.extend(items if items is not None else [UNKNOWN])
            return None
        if m.name in ("keys", "values", "items") and isinstance(target, dict):
            return _DictView(target, m.name)
        if isinstance(target, str) and m.name == "format":
            if not all(isinstance(a, _PLAIN) for a in [*args, *kwargs.values()]):
                return UNKNOWN
        if isinstance(target, str) and m.name == "join":
            items = self.iterate(args[0]) if args else None
            if items is None or not all(isinstance(i, str) for i in items):
                return UNKNOWN
            return target.join(items)
        try:
            result = getattr(target, m.name)(*args, **kwargs)
        except Exception:
            return UNKNOWN
        if isinstance(result, (type({}.keys()), type({}.values()), type({}.items()))):
            return list(result)
        return result

    def call_function(self, func: FunctionRef, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """Run a function of the scanned tree with known arguments."""
        if self.depth >= 8:
            return UNKNOWN
        node = func.node
        local = Scope(func.scope.module, parent=func.scope, kind="function")
        params = node.args
        positional = [*params.posonlyargs, *params.args]
        defaults = [None] * (len(positional) - len(params.defaults)) + list(params.defaults)
        for i, p in enumerate(positional):
            if i < len(args):
                local.vars[p.arg] = args[i]
            elif p.arg in kwargs:
                local.vars[p.arg] = kwargs.pop(p.arg)
            elif defaults[i] is not None:
                local.vars[p.arg] = self.eval(defaults[i], func.scope)
            else:
                local.vars[p.arg] = UNKNOWN
        if params.vararg is not None:
            local.vars[params.vararg.arg] = tuple(args[len(positional):])
        for p, d in zip(params.kwonlyargs, params.kw_defaults):
            if p.arg in kwargs:
                local.vars[p.arg] = kwargs.pop(p.arg)
            else:
                local.vars[p.arg] = self.eval(d, func.scope) if d is not None else UNKNOWN
        if params.kwarg is not None:
            local.vars[params.kwarg.arg] = dict(kwargs)
        if func.owner is not None and positional:
            local.vars["__class__"] = func.owner
            local.vars["__self__"] = local.vars.get(positional[0].arg)
        self.depth += 1
        try:
            if isinstance(node, ast.Lambda):
                return self.eval(node.body, local)
            self.exec_block(node.body, local)
        except _Return as r:
            return r.value
        finally:
            self.depth -= 1
        return None

    # ------------------------------------------------------------------ statements
    def assign(self, target: ast.expr, value: Any, scope: Scope) -> None:
        if isinstance(target, ast.Name):
            scope.vars[target.id] = value
        elif isinstance(target, (ast.Tuple, ast.List)):
            items = self.iterate(value) if not isinstance(value, str) else None
            starred = [i for i, t in enumerate(target.elts) if isinstance(t, ast.Starred)]
            if items is None or (not starred and len(items) != len(target.elts)):
                items = [UNKNOWN] * len(target.elts)
                starred = []
            if starred:
                s = starred[0]
                n_after = len(target.elts) - s - 1
                head, mid, tail = items[:s], items[s:len(items) - n_after], items[len(items) - n_after:]
                for t, v in zip(target.elts[:s], head):
                    self.assign(t, v, scope)
                self.assign(target.elts[s].value, list(mid), scope)  # type: ignore[attr-defined]
                for t, v in zip(target.elts[s + 1:], tail):
                    self.assign(t, v, scope)
                return
            for t, v in zip(target.elts, items):
                self.assign(t, v, scope)
        elif isinstance(target, ast.Subscript):
            base = self.eval(target.value, scope)
            if isinstance(target.slice, ast.Slice):
                return
            key = self.eval(target.slice, scope)
            if isinstance(base, dict):
                try:
                    base[key] = value
                except TypeError:
                    pass
            elif isinstance(base, list) and isinstance(key, int):
                try:
                    base[key] = value
                except IndexError:
                    pass
        # attribute targets (self.x = ...) are ignored: instances are not modelled

    def exec_block(self, body: Iterable[ast.stmt], scope: Scope, owner: ClassInfo | None = None) -> None:
        for stmt in body:
            self._tick()
            self.exec_stmt(stmt, scope, owner)

    def exec_stmt(self, stmt: ast.stmt, scope: Scope, owner: ClassInfo | None = None) -> None:
        if isinstance(stmt, ast.Assign):
            value = self.eval(stmt.value, scope)
            for t in stmt.targets:
                self.assign(t, value, scope)
        elif isinstance(stmt, ast.AnnAssign):
            if stmt.value is not None:
                self.assign(stmt.target, self.eval(stmt.value, scope), scope)
        elif isinstance(stmt, ast.AugAssign):
            if isinstance(stmt.target, (ast.Name, ast.Subscript)):
                if isinstance(stmt.target, ast.Name):
                    current = self.lookup(stmt.target.id, scope)
                else:
                    current = self.eval(stmt.target, scope)
                value = self.eval(stmt.value, scope)
                if isinstance(current, FolderList) and isinstance(stmt.op, ast.Add):
                    result = _concat_folder(current, value)
                elif isinstance(current, list) and isinstance(stmt.op, ast.Add) and not isinstance(value, FolderList):
                    items = self.iterate(value)
                    current.extend(items if items is not None else [UNKNOWN])
                    result = current
                elif isinstance(current, dict) and isinstance(stmt.op, ast.BitOr) and isinstance(value, dict):
                    current.update(value)
                    result = current
                else:
                    result = self.binop(stmt.op, current, value)
                self.assign(stmt.target, result, scope)
        elif isinstance(stmt, ast.Expr):
            self.eval(stmt.value, scope)
        elif isinstance(stmt, ast.Return):
            raise _Return(self.eval(stmt.value, scope) if stmt.value is not None else None)
        elif isinstance(stmt, ast.If):
            truth = _truth(self.eval(stmt.test, scope))
            if truth is None:
                # An undecidable condition (a library probe, a platform check) most often
                # guards an optional feature: take the branch that declares it, unless
                # that branch only bails out (``if not ok: raise ...``).
                truth = not _bails_out(stmt.body)
            self.exec_block(stmt.body if truth else stmt.orelse, scope, owner)
        elif isinstance(stmt, ast.While):
            _taint(stmt, scope)
        elif isinstance(stmt, ast.For):
            items = self.iterate(self.eval(stmt.iter, scope))
            if items is None or len(items) > _MAX_ITER:
                _taint(stmt, scope)
                return
            broke = False
            for item in items:
                self.assign(stmt.target, item, scope)
                try:
                    self.exec_block(stmt.body, scope, owner)
                except _Break:
                    broke = True
                    break
                except _Continue:
                    continue
            if not broke:
                self.exec_block(stmt.orelse, scope, owner)
        elif isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
            try:
                failing = self._failing_import(stmt.body, scope.module)
                if failing is None:
                    self.exec_block(stmt.body, scope, owner)
                    self.exec_block(stmt.orelse, scope, owner)
                else:
                    # ``from .optional import f`` of a module the snapshot does not have raises
                    # ImportError there: the body stops at that line. Its handlers are not
                    # followed: they retry the same import by other names or only report it
                    # (RES4LYF's root rebinds NODE_CLASS_MAPPINGS from an absent ``zampler``).
                    self.exec_block(stmt.body[:failing], scope, owner)
            finally:
                self.exec_block(stmt.finalbody, scope, owner)
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            self.exec_block(stmt.body, scope, owner)
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            kind = "function"
            for d in stmt.decorator_list:
                dname = d.id if isinstance(d, ast.Name) else d.attr if isinstance(d, ast.Attribute) else None
                if dname in ("classmethod", "staticmethod", "property"):
                    kind = dname
                elif dname is not None and dname.endswith("classmethod"):
                    kind = "classmethod"
            scope.vars[stmt.name] = FunctionRef(stmt, _method_scope(scope), owner=owner, kind=kind)
        elif isinstance(stmt, ast.ClassDef):
            scope.vars[stmt.name] = ClassInfo(stmt.name, stmt, scope, self)
        elif isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.asname:
                    scope.vars[alias.asname] = LazyImport(alias.name, None)
                else:
                    top = alias.name.split(".")[0]
                    scope.vars[top] = LazyImport(top, None)
        elif isinstance(stmt, ast.ImportFrom):
            base = self._import_base(stmt, scope.module)
            for alias in stmt.names:
                if alias.name == "*":
                    if base is not None:
                        scope.module.star_imports.append(base)
                    continue
                if base is None:
                    scope.vars[alias.asname or alias.name] = UNKNOWN
                else:
                    scope.vars[alias.asname or alias.name] = LazyImport(base, alias.name)
        elif isinstance(stmt, ast.Raise):
            raise _Return(UNKNOWN) if scope.kind == "function" else _Abort("raise")
        elif isinstance(stmt, ast.Break):
            raise _Break()
        elif isinstance(stmt, ast.Continue):
            raise _Continue()
        elif isinstance(stmt, ast.Delete):
            for t in stmt.targets:
                if isinstance(t, ast.Name):
                    scope.vars.pop(t.id, None)
                elif isinstance(t, ast.Subscript):
                    base = self.eval(t.value, scope)
                    key = self.eval(t.slice, scope)
                    if isinstance(base, dict):
                        try:
                            base.pop(key, None)
                        except TypeError:
                            pass
                    elif isinstance(base, list) and isinstance(key, int) and -len(base) <= key < len(base):
                        del base[key]  # e.g. a helper removing an inherited input from a list of pairs
        elif isinstance(stmt, ast.Match):
            return
        # Pass, Global, Nonlocal, While, Assert: nothing to model

    def _failing_import(self, body: list[ast.stmt], module: ModuleCtx) -> int | None:
        """Index of the first top-level statement of ``body`` that imports from a module of
        the pack (a relative ``from .x import y``) which the snapshot does not have."""
        for index, stmt in enumerate(body):
            if not isinstance(stmt, ast.ImportFrom) or not stmt.level or not stmt.module:
                continue
            base = self._import_base(stmt, module)
            if base is not None and self.resolve_module(base) is None:
                return index
        return None

    def _import_base(self, stmt: ast.ImportFrom, module: ModuleCtx) -> str | None:
        if not stmt.level:
            return stmt.module or None
        pkg = module.package
        parts = pkg.split(".") if pkg else []
        up = stmt.level - 1
        if up > len(parts):
            return None
        parts = parts[: len(parts) - up] if up else parts
        if stmt.module:
            parts = [*parts, *stmt.module.split(".")]
        return ".".join(parts)

    # ------------------------------------------------------------------ module
    def run_module(self, mod: ModuleCtx) -> None:
        """Run a module's top level once (imports stay lazy)."""
        if mod.state != "new":
            return
        mod.state = "running"
        mod.scope = Scope(mod, kind="module")
        mod.scope.vars["__name__"] = mod.name
        mod.scope.vars["__file__"] = UNKNOWN
        saved_steps, saved_depth = self.steps, self.depth
        self.steps, self.depth = 0, 0
        try:
            if mod.tree is not None:
                for stmt in mod.tree.body:
                    try:
                        self.exec_stmt(stmt, mod.scope)
                    except (_Abort, _Return, _Break, _Continue):
                        # One failing top-level statement must not hide the rest of the
                        # module (a ``raise`` in a version check, say).
                        self.steps = 0
                        continue
        finally:
            self.steps, self.depth = saved_steps, saved_depth
            mod.state = "done"

    def call_guarded(self, func: Any, args: list[Any] | None = None, kwargs: dict[str, Any] | None = None) -> Any:
        """Call with a fresh budget; any abort gives UNKNOWN."""
        self.reset_budget()
        self.depth = 0
        try:
            return self.call(func, list(args or []), dict(kwargs or {}))
        except (_Abort, _Return, _Break, _Continue):
            return UNKNOWN


class _Unknowable(Exception):
    pass


def _method_scope(scope: Scope) -> Scope:
    """Functions defined in a class body close over the enclosing (non-class) scope."""
    s = scope
    while s.kind == "class" and s.parent is not None:
        s = s.parent
    return s


@dataclass(eq=False)
class _Super:
    owner: ClassInfo
    target: Any


@dataclass(eq=False)
class _DictView:
    target: dict
    kind: str

    def items(self) -> list[Any]:
        if self.kind == "keys":
            return list(self.target.keys())
        if self.kind == "values":
            return list(self.target.values())
        return [tuple(kv) for kv in self.target.items()]


def _truth(value: Any) -> bool | None:
    if value is UNKNOWN or isinstance(value, (ExternalRef, LazyImport, ModuleRef, Instance, FunctionRef,
                                             BoundMethod)):
        return None
    if isinstance(value, FolderList):
        return None
    if isinstance(value, ClassInfo):
        return True
    try:
        return bool(value)
    except Exception:
        return None


def _concat_folder(left: Any, right: Any) -> Any:
    folders: list[str] = []
    fixed: list[Any] = []
    dynamic = False
    for part in (left, right):
        if isinstance(part, FolderList):
            folders.extend(f for f in part.folders if f not in folders)
            fixed.extend(part.fixed)
            dynamic |= part.dynamic
        elif isinstance(part, (list, tuple)) and is_known(part):
            fixed.extend(part)
        elif part is UNKNOWN or isinstance(part, (list, tuple)):
            dynamic = True
        else:
            return UNKNOWN
    return FolderList(tuple(folders), fixed, dynamic)


_FOLDER_METHODS = frozenset({"append", "extend", "insert", "copy", "sort", "reverse"})


def _folder_method(target: FolderList, name: str, args: list[Any]) -> Any:
    """List methods on a folder listing: literal additions become fixed options."""
    if name == "copy":
        return target.copy()
    if name in ("sort", "reverse"):
        return None
    value = args[-1] if args else UNKNOWN
    if name == "extend":
        if isinstance(value, (list, tuple)) and is_known(value):
            target.fixed.extend(value)
        elif isinstance(value, FolderList):
            target.folders = tuple([*target.folders, *(f for f in value.folders if f not in target.folders)])
            target.fixed.extend(value.fixed)
            target.dynamic |= value.dynamic
        else:
            target.dynamic = True
        return None
    if isinstance(value, (str, int, float, bool)):
        target.fixed.append(value)
    else:
        target.dynamic = True
    return None


_MUTATORS = frozenset({"append", "extend", "insert", "pop", "remove", "update", "setdefault", "add",
                       "discard", "clear", "sort", "reverse"})


def _taint(stmt: ast.stmt, scope: Scope) -> None:
    """A loop we cannot run: whatever it assigns or mutates is no longer known.

    Folder listings stay folder listings (with ``dynamic`` set), because a loop that
    appends a few extra names to ``get_filename_list("vae")`` still leaves a combo over
    that folder."""
    names: set[str] = set()  # assigned: local to this scope
    mutated: set[str] = set()  # mutated in place: wherever the name lives
    for node in ast.walk(stmt):
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.For, ast.NamedExpr)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                for sub in ast.walk(t):
                    if isinstance(sub, ast.Name):
                        names.add(sub.id)
                    elif isinstance(sub, ast.Subscript):
                        base = sub.value
                        while isinstance(base, ast.Subscript):
                            base = base.value
                        if isinstance(base, ast.Name):
                            names.add(base.id)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _MUTATORS:
            base = node.func.value
            while isinstance(base, (ast.Subscript, ast.Attribute)):
                base = base.value
            if isinstance(base, ast.Name):
                mutated.add(base.id)
    for name in names | mutated:
        target = scope
        if name in mutated and name not in scope.vars:
            s: Scope | None = scope.parent
            while s is not None and name not in s.vars:
                s = s.parent
            target = s if s is not None else scope
        current = target.vars.get(name)
        if isinstance(current, FolderList):
            current.dynamic = True
        else:
            target.vars[name] = UNKNOWN


def _bails_out(body: list[ast.stmt]) -> bool:
    """A block that ends by raising (a guard clause)."""
    return bool(body) and isinstance(body[-1], ast.Raise)


# ---------------------------------------------------------------------- builtins
@dataclass(frozen=True)
class _Builtin:
    name: str
    fn: Callable[[Interpreter, list[Any], dict[str, Any]], Any]


def _pure(fn: Callable[..., Any], folder: Callable[[FolderList], Any] | None = None, shallow: bool = False):
    """``shallow``: the arguments need only be concrete containers, their items may be unknown
    (``enumerate``/``zip`` pass items through untouched, e.g. input lists holding a dynamic combo)."""
    def call(interp: Interpreter, args: list[Any], kwargs: dict[str, Any]) -> Any:
        if folder is not None and len(args) == 1 and isinstance(args[0], FolderList):
            return folder(args[0])
        conv = []
        for a in args:
            if isinstance(a, _DictView):
                a = a.items()
            known = (a is not UNKNOWN) if shallow else is_known(a)
            if not known or not isinstance(a, (*_PLAIN, list, tuple, dict, set, frozenset, range)):
                return UNKNOWN
            conv.append(a)
        if not is_known(kwargs) or any(not isinstance(v, (*_PLAIN, list, tuple)) for v in kwargs.values()):
            return UNKNOWN
        kwargs = {k: v for k, v in kwargs.items() if k in ("reverse", "default", "start", "ndigits")}
        try:
            return fn(*conv, **kwargs)
        except Exception:
            return UNKNOWN

    return call


def _range(*args: int) -> Any:
    r = range(*args)
    if len(r) > _MAX_ITER:
        raise ValueError("range too long")
    return list(r)


def _listify(fn: Callable[..., Any]) -> Callable[..., Any]:
    return lambda *a, **k: list(fn(*a, **k))


def _enum_or(fn: Callable[..., Any]):
    base = _pure(fn, folder=FolderList.copy)

    def call(interp: Interpreter, args: list[Any], kwargs: dict[str, Any]) -> Any:
        if len(args) == 1 and isinstance(args[0], ClassInfo) and args[0].is_enum:
            items = interp.iterate(args[0])
            return fn(items) if items is not None else UNKNOWN
        return base(interp, args, kwargs)

    return call


def _dict_builtin(interp: Interpreter, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """``dict(...)``: values may be anything (classes in a registry), keys must be known."""
    out: dict[Any, Any] = {}
    if args:
        src = args[0]
        if isinstance(src, _DictView):
            src = src.items()
        if isinstance(src, dict):
            out.update(src)
        elif isinstance(src, (list, tuple)) and all(isinstance(p, (list, tuple)) and len(p) == 2 for p in src):
            try:
                out.update(src)
            except TypeError:
                return UNKNOWN
        else:
            return UNKNOWN
    out.update(kwargs)
    return out


def _getattr(interp: Interpreter, args: list[Any], kwargs: dict[str, Any]) -> Any:
    if len(args) >= 2 and isinstance(args[1], str):
        value = interp.getattr(args[0], args[1])
        if value is UNKNOWN and len(args) == 3:
            return args[2]
        return value
    return UNKNOWN


def _hasattr(interp: Interpreter, args: list[Any], kwargs: dict[str, Any]) -> Any:
    if len(args) == 2 and isinstance(args[0], ClassInfo) and isinstance(args[1], str):
        return args[0].has_own_or_inherited(args[1])
    return UNKNOWN


_BUILTINS: dict[str, _Builtin] = {
    name: _Builtin(name, fn)
    for name, fn in {
        "range": _pure(_range),
        "len": _pure(len),
        "str": _pure(str),
        "int": _pure(int),
        "float": _pure(float),
        "bool": _pure(bool),
        "list": _enum_or(list),
        "tuple": _enum_or(tuple),
        "sorted": _pure(sorted, folder=FolderList.copy),
        "reversed": _pure(_listify(reversed)),
        "set": _pure(set),
        "frozenset": _pure(frozenset),
        "dict": _dict_builtin,
        "min": _pure(min),
        "max": _pure(max),
        "abs": _pure(abs),
        "round": _pure(round),
        "sum": _pure(sum),
        "any": _pure(any),
        "all": _pure(all),
        "enumerate": _pure(_listify(enumerate), shallow=True),
        "zip": _pure(_listify(zip), shallow=True),
        "repr": _pure(repr),
        "chr": _pure(chr),
        "ord": _pure(ord),
        "getattr": _getattr,
        "hasattr": _hasattr,
    }.items()
}

_BUILTIN_VALUES: dict[str, Any] = {**_BUILTINS, "True": True, "False": False, "None": None}
