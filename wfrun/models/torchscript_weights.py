"""The parameters and buffers of a TorchScript archive, read without running anything in it.

Some models are only released as TorchScript (``torch.jit.save``): a zip holding the module
tree as a pickle (``data.pkl``), tensor storages (``data/N``), constants and the compiled
code (``code/**.py``). ``torch.jit.load`` would compile and run that code, and unpickle with
arbitrary globals; wfrun never does either with a user's file. This reader instead

- unpickles ``data.pkl`` with a closed list of globals: every ``__torch__.*`` class becomes
  an inert :class:`ScriptObject` (a name and a dict of attributes, nothing callable), tensors
  are rebuilt only through ``torch._utils._rebuild_tensor_v2`` (and its older and parameter
  forms) from storages read out of the zip's ``data/`` entries, ``collections.OrderedDict``
  and TorchScript's list tags (``torch.jit._pickle.build_intlist`` …) give plain values, and
  any other global (``os.system``, ``builtins.eval``, …) is refused before unpickling starts;
- reads the ``__parameters__`` / ``__buffers__`` lists that each module class declares in
  ``code/`` as text (never compiled), to tell parameters and buffers from other attributes;
- walks the module tree the way ``Module.state_dict()`` does: a flat dict by dotted name.

Sizes are bounded (zip entries, pickle and code bytes, pickle operations, storage bytes,
module nesting); anything outside this is a :class:`CheckpointError` naming the file.
"""

from __future__ import annotations

import collections
import io
import pickle
import pickletools
import re
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

import torch

from wfrun.models.header import CheckpointError

#: Bounds; a real TorchScript model (FILM: ~200 tensors, 135 MB) is far below each.
MAX_ENTRIES = 50_000
MAX_PICKLE_BYTES = 64 * 2**20
MAX_PICKLE_OPS = 5_000_000
MAX_CODE_BYTES = 64 * 2**20
MAX_STORAGE_BYTES = 16 * 2**30
MAX_TENSORS = 200_000
MAX_CLASSES = 20_000
MAX_MODULES = 200_000
MAX_DEPTH = 64
MAX_DIMS = 16

STORAGE_DTYPES = {"FloatStorage": torch.float32, "HalfStorage": torch.float16, "BFloat16Storage": torch.bfloat16,
                  "DoubleStorage": torch.float64, "LongStorage": torch.int64, "IntStorage": torch.int32,
                  "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8,
                  "BoolStorage": torch.bool}

#: Opcodes TorchScript's pickler never writes; refused up front (they would still meet the
#: restricted ``find_class``, but an archive using them is not one torch wrote).
_REFUSED_OPS = frozenset({"INST", "OBJ", "EXT1", "EXT2", "EXT4", "PERSID"})
#: ``torch.jit._pickle`` helpers that only tag a list or value with its type.
_JIT_TAGS = frozenset({"build_intlist", "build_floatlist", "build_doublelist", "build_boollist",
                       "build_tensorlist", "build_complexlist"})
_TENSOR_REBUILDERS = frozenset({"_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_parameter",
                                "_rebuild_parameter_with_state"})


class ScriptObject:
    """An object of a TorchScript class (``__torch__.…``), as inert data: its qualified
    class name and the attribute dict it was pickled with. Nothing of the class runs."""

    __slots__ = ("attributes", "state")
    qualname = "__torch__"

    def __new__(cls, *args: Any) -> "ScriptObject":
        if args:
            raise CheckpointError(f"constructs {cls.qualname} with arguments, which TorchScript archives never do")
        obj = object.__new__(cls)
        obj.attributes = {}
        obj.state = None
        return obj

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, dict):
            if not all(isinstance(k, str) for k in state):
                raise CheckpointError(f"{self.qualname} has attribute names that are not strings")
            self.attributes = dict(state)
        else:
            self.state = state  # a custom class's own state: kept, never interpreted

    def __repr__(self) -> str:
        return f"<{self.qualname}>"


class _StorageType:
    """The ``torch.FloatStorage``-style global inside a storage's persistent id."""

    def __init__(self, name: str):
        self.name, self.dtype = name, STORAGE_DTYPES[name]

    def __call__(self, *args: Any) -> Any:
        raise CheckpointError(f"calls torch.{self.name}, which TorchScript archives never do")


def _tag(value: Any, *type_name: Any) -> Any:
    return value


class _Archive:
    """One open archive: its entry prefix, the storages read so far and the byte budget."""

    def __init__(self, path: Path, zf: zipfile.ZipFile, prefix: str, read_data: bool):
        self.path, self.zf, self.prefix, self.read_data = path, zf, prefix, read_data
        self.storages: dict[str, torch.Tensor] = {}
        self.bytes = 0
        self.tensors = 0

    def error(self, message: str) -> CheckpointError:
        return CheckpointError(f"{self.path}: {message}")

    def storage(self, pid: Any) -> torch.Tensor:
        if (not isinstance(pid, tuple) or len(pid) != 5 or pid[0] != "storage"
                or not isinstance(pid[1], _StorageType)):
            raise self.error(f"has a persistent id that is not a tensor storage ({type(pid).__name__})")
        _, kind, key, _location, numel = pid
        if not isinstance(key, str) or not key.isdigit() or len(key) > 12:
            raise self.error(f"names a storage {str(key)[:40]!r}, not a number")
        if type(numel) is not int or numel < 0:
            raise self.error(f"storage {key} claims {numel!r} elements")
        if key in self.storages:
            return self.storages[key]
        itemsize = torch.empty(0, dtype=kind.dtype).element_size()
        nbytes = numel * itemsize
        if self.bytes + nbytes > MAX_STORAGE_BYTES:
            raise self.error(f"storage {key} claims {nbytes} bytes, past the {MAX_STORAGE_BYTES} bytes wfrun reads "
                             "from one archive")
        try:
            info = self.zf.getinfo(f"{self.prefix}/data/{key}")
        except KeyError:
            raise self.error(f"storage {key} is missing from the archive (damaged or truncated)") from None
        if info.file_size < nbytes:
            raise self.error(f"storage {key} claims {nbytes} bytes but its entry holds {info.file_size}")
        self.bytes += nbytes
        if not self.read_data:
            tensor = torch.empty(numel, dtype=kind.dtype, device="meta")
        else:
            buffer = bytearray(nbytes)
            with self.zf.open(info) as handle:
                view, done = memoryview(buffer), 0
                while done < nbytes:
                    got = handle.readinto(view[done:])
                    if not got:
                        raise self.error(f"storage {key} ends early (damaged or truncated)")
                    done += got
            tensor = torch.frombuffer(buffer, dtype=kind.dtype) if nbytes else torch.empty(0, dtype=kind.dtype)
        self.storages[key] = tensor
        return tensor

    def tensor(self, storage: Any, offset: Any, size: Any, stride: Any, *rest: Any) -> torch.Tensor:
        if not isinstance(storage, torch.Tensor) or storage.ndim != 1:
            raise self.error("rebuilds a tensor from something that is not one of its storages")
        dims_ok = (isinstance(size, tuple) and isinstance(stride, tuple) and len(size) == len(stride) <= MAX_DIMS
                   and all(type(v) is int and v >= 0 for v in (*size, *stride)))
        if not dims_ok or type(offset) is not int or offset < 0:
            raise self.error(f"has a tensor with an invalid layout (size {size!r:.80}, stride {stride!r:.80})")
        self.tensors += 1
        if self.tensors > MAX_TENSORS:
            raise self.error(f"holds more than {MAX_TENSORS} tensors")
        if all(size):
            last = offset + sum((s - 1) * st for s, st in zip(size, stride))
            if last >= storage.numel():
                raise self.error(f"has a tensor reaching element {last} of a storage of {storage.numel()}")
        elif offset > storage.numel():
            raise self.error("has an empty tensor past the end of its storage")
        return torch.as_strided(storage, size, stride, offset)

    def parameter(self, data: Any, *rest: Any) -> torch.Tensor:
        if not isinstance(data, torch.Tensor):
            raise self.error("rebuilds a parameter from something that is not a tensor")
        return data


class _Unpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves a closed list of globals only."""

    def __init__(self, data: bytes, archive: _Archive):
        super().__init__(io.BytesIO(data))
        self.archive = archive
        self.classes: dict[str, type] = {}

    def find_class(self, module: str, name: str) -> Any:
        if not _allowed(module, name):
            raise self.archive.error(_refusal(module, name))
        if module.startswith("__torch__"):
            qualname = f"{module}.{name}"
            cls = self.classes.get(qualname)
            if cls is None:
                if len(self.classes) >= MAX_CLASSES:
                    raise self.archive.error(f"names more than {MAX_CLASSES} TorchScript classes")
                cls = type(name, (ScriptObject,), {"__slots__": (), "qualname": qualname})
                self.classes[qualname] = cls
            return cls
        if module == "torch._utils":
            return self.archive.parameter if "parameter" in name else self.archive.tensor
        if module == "torch":
            return _StorageType(name)
        if module == "collections":
            return collections.OrderedDict
        return _tag  # torch.jit._pickle's type tags

    def persistent_load(self, pid: Any) -> Any:
        return self.archive.storage(pid)


def _allowed(module: str, name: str) -> bool:
    """The closed list of globals: TorchScript classes (as inert objects), tensor rebuilding,
    storage types, ``OrderedDict`` and TorchScript's type tags."""
    return (module == "__torch__" or module.startswith("__torch__.")
            or (module == "torch._utils" and name in _TENSOR_REBUILDERS)
            or (module == "torch" and name in STORAGE_DTYPES)
            or (module == "collections" and name == "OrderedDict")
            or (module == "torch.jit._pickle" and (name in _JIT_TAGS or name == "restore_type_tag")))


def _refusal(module: str, name: str) -> str:
    return (f"refers to the global {module}.{name}, which an archive of weights does not need; "
            "refused without loading anything (it could run code)")


def _prescan(archive: _Archive, data: bytes) -> None:
    """Every opcode and plain global checked before anything is unpickled."""
    try:
        for count, (op, arg, _pos) in enumerate(pickletools.genops(data)):
            if count >= MAX_PICKLE_OPS:
                raise archive.error(f"its module pickle has more than {MAX_PICKLE_OPS} operations")
            if op.name in _REFUSED_OPS:
                raise archive.error(f"its module pickle uses the {op.name} opcode, which TorchScript never writes")
            if op.name == "GLOBAL":  # STACK_GLOBAL's names are on the stack: find_class checks those
                module, _, name = str(arg).partition(" ")
                if not _allowed(module, name):
                    raise archive.error(_refusal(module, name))
    except CheckpointError:
        raise
    except (ValueError, EOFError) as err:  # pickletools' word for a malformed or truncated pickle
        raise archive.error(f"its module pickle is damaged ({err})") from None


_CLASS = re.compile(r"^class (\w+)\((\w*)\):[ \t]*$", re.M)
_LIST = r"\[((?:\s*\"[^\"\\\n]*\",?)*)\s*\]"
_PARAMS = re.compile(r"^  __parameters__ = " + _LIST, re.M)
_BUFFERS = re.compile(r"^  __buffers__ = " + _LIST, re.M)


def _declarations(archive: _Archive) -> dict[str, tuple[bool, tuple[str, ...], tuple[str, ...]]]:
    """``qualname -> (is a Module, parameter names, buffer names)`` from ``code/`` read as
    text: each class's ``__parameters__`` and ``__buffers__`` lines."""
    out: dict[str, tuple[bool, tuple[str, ...], tuple[str, ...]]] = {}
    root = f"{archive.prefix}/code/"
    total = 0
    for info in archive.zf.infolist():
        if not info.filename.startswith(root) or not info.filename.endswith(".py"):
            continue
        total += info.file_size
        if total > MAX_CODE_BYTES:
            raise archive.error(f"holds more than {MAX_CODE_BYTES} bytes of code")
        with archive.zf.open(info) as handle:
            text = handle.read(info.file_size + 1).decode("utf-8", errors="replace")
        module = ".".join(PurePosixPath(info.filename[len(root):-3]).parts)
        starts = list(_CLASS.finditer(text))
        for i, match in enumerate(starts):
            body = text[match.end():starts[i + 1].start() if i + 1 < len(starts) else len(text)]
            params, buffers = _PARAMS.search(body), _BUFFERS.search(body)
            names = [tuple(re.findall(r"\"([^\"\\\n]*)\"", m.group(1))) if m else () for m in (params, buffers)]
            out[f"{module}.{match.group(1)}"] = (match.group(2) == "Module", names[0], names[1])
    return out


def _state_dict(archive: _Archive, root: Any,
                decls: dict[str, tuple[bool, tuple[str, ...], tuple[str, ...]]]) -> dict[str, torch.Tensor]:
    """``Module.state_dict()``'s walk: each module's parameters, then its buffers (in
    attribute order), then each submodule under its attribute name."""
    out: dict[str, torch.Tensor] = collections.OrderedDict()
    visits = 0
    on_path: set[int] = set()

    def is_module(obj: Any) -> bool:
        if not isinstance(obj, ScriptObject):
            return False
        decl = decls.get(obj.qualname)
        return decl[0] if decl is not None else "training" in obj.attributes

    def visit(obj: ScriptObject, prefix: str, depth: int) -> None:
        nonlocal visits
        visits += 1
        if visits > MAX_MODULES or depth > MAX_DEPTH:
            raise archive.error(f"its module tree is deeper than {MAX_DEPTH} or larger than {MAX_MODULES} modules")
        if id(obj) in on_path:
            raise archive.error(f"module {prefix.rstrip('.') or '(root)'} contains itself")
        on_path.add(id(obj))
        attrs = obj.attributes
        decl = decls.get(obj.qualname)
        if decl is not None:
            wanted = set(decl[1]) | set(decl[2])
            groups = ([n for n in attrs if n in decl[1]], [n for n in attrs if n in decl[2]])
        else:  # no declaration (not written by torch.jit.save): every tensor attribute
            wanted = {n for n, v in attrs.items() if isinstance(v, torch.Tensor)}
            groups = ([n for n in attrs if n in wanted], [])
        for group in groups:
            for name in group:
                value = attrs[name]
                if value is None:
                    continue  # an absent parameter (bias=False), as state_dict leaves it out
                if not isinstance(value, torch.Tensor):
                    raise archive.error(f"{prefix}{name} is declared a parameter or buffer but holds "
                                        f"{type(value).__name__}")
                out[prefix + name] = value
        for name, value in attrs.items():
            if name not in wanted and is_module(value):
                visit(value, f"{prefix}{name}.", depth + 1)
        on_path.discard(id(obj))

    visit(root, "", 0)
    return out


def _prefix(path: Path, zf: zipfile.ZipFile) -> str:
    infos = zf.infolist()
    if len(infos) > MAX_ENTRIES:
        raise CheckpointError(f"{path}: has {len(infos)} zip entries, more than the {MAX_ENTRIES} wfrun reads")
    tops = {PurePosixPath(i.filename).parts[0] for i in infos if "/" in i.filename}
    pickles = [i.filename for i in infos if i.filename.count("/") == 1 and i.filename.endswith("/data.pkl")]
    if len(pickles) != 1 or len(tops) != 1:
        raise CheckpointError(f"{path}: not a TorchScript archive (one folder with data.pkl expected)")
    return pickles[0].split("/")[0]


def is_torchscript_archive(path: str | Path) -> bool:
    """Whether ``path`` is a zip laid out as ``torch.jit.save`` writes (``data.pkl`` and
    ``code/``); ``torch.save`` zips have no ``code/``. Reads the zip directory only."""
    try:
        with zipfile.ZipFile(path) as zf:
            prefix = _prefix(Path(path), zf)
            return any(n.startswith(f"{prefix}/code/") for n in zf.namelist())
    except (OSError, zipfile.BadZipFile, CheckpointError, ValueError):
        return False


def read_torchscript_state_dict(path: str | Path, *, read_data: bool = True) -> dict[str, torch.Tensor]:
    """The archive's ``state_dict()``: parameters and buffers by dotted name, in its order.
    ``read_data=False`` checks everything but leaves tensors on the ``meta`` device (names,
    shapes and dtypes only). Raises :class:`CheckpointError` on anything else."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            prefix = _prefix(path, zf)
            archive = _Archive(path, zf, prefix, read_data)
            byteorder = f"{prefix}/byteorder"
            if byteorder in zf.namelist():
                with zf.open(byteorder) as handle:
                    if handle.read(16).strip() not in (b"little", b""):
                        raise archive.error("stores big-endian tensors, which wfrun does not read")
            info = zf.getinfo(f"{prefix}/data.pkl")
            if info.file_size > MAX_PICKLE_BYTES:
                raise archive.error(f"its module pickle is {info.file_size} bytes, more than {MAX_PICKLE_BYTES}")
            with zf.open(info) as handle:
                data = handle.read(MAX_PICKLE_BYTES + 1)
            _prescan(archive, data)
            try:
                root = _Unpickler(data, archive).load()
            except CheckpointError as err:
                raise CheckpointError(str(err) if str(err).startswith(str(path)) else f"{path}: {err}") from None
            except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
                    KeyError, RecursionError, MemoryError) as err:
                raise archive.error(f"its module pickle cannot be read ({type(err).__name__}: {err})") from None
            if not isinstance(root, ScriptObject):
                raise archive.error(f"holds a {type(root).__name__}, not a TorchScript module")
            return _state_dict(archive, root, _declarations(archive))
    except zipfile.BadZipFile as err:
        raise CheckpointError(f"{path}: not a complete zip archive ({err}); download it again") from None
    except (OSError, EOFError, zipfile.LargeZipFile) as err:
        raise CheckpointError(f"{path}: cannot be read ({err})") from None
    except RuntimeError as err:  # zipfile's word for a bad CRC, encrypted or unsupported entries
        raise CheckpointError(f"{path}: damaged archive ({err})") from None
