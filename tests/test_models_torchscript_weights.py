"""Reading a TorchScript archive's parameters and buffers as data (``models.torchscript_weights``).

Trusted archives are made here with ``torch.jit.save`` (scripted and traced); the reference
is ``torch.jit.load(path).state_dict()`` on those same files, which the test made itself.
Hostile archives are assembled opcode by opcode, each with a payload that would leave a
marker file if anything ran.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import pytest
import torch
from torch import nn

import wfrun.models.torchscript_weights as tw
from wfrun.models.header import CheckpointError
from wfrun.models.torchscript_weights import is_torchscript_archive, read_torchscript_state_dict


class Sample(nn.Module):
    """Nested containers, a bias-less conv, a buffer, a non-persistent buffer, a plain tensor
    attribute (not state), an int attribute, a shared submodule, several dtypes and a
    non-contiguous buffer."""

    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleList([nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.LeakyReLU(0.2)),
                                    nn.Conv2d(4, 2, 1, bias=False)])
        self.norm = nn.BatchNorm2d(2)
        self.register_buffer("scale", torch.arange(6.0).view(2, 3).t())  # non-contiguous
        self.register_buffer("ids", torch.tensor([1, 2, 3], dtype=torch.int64))
        self.register_buffer("halves", torch.rand(5).half())
        self.register_buffer("scratch", torch.zeros(1), persistent=False)
        self.plain = torch.ones(2)
        self.levels = 3
        self.shared = self.convs[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.convs:
            x = layer(x)
        return self.norm(x) * self.scale[0, 0] + self.plain[0] + self.halves[0].float() + self.ids[0]


def _sample() -> Sample:
    torch.manual_seed(0)
    module = Sample().eval()
    with torch.no_grad():
        module.norm.running_mean.uniform_()
    return module


@pytest.fixture(scope="module")
def archives(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ts")
    module = _sample()
    out = {"scripted": root / "scripted.pt", "traced": root / "traced.pt"}
    torch.jit.save(torch.jit.script(module), str(out["scripted"]))
    torch.jit.save(torch.jit.trace(module, torch.rand(1, 3, 8, 8)), str(out["traced"]))
    return out


def _same(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> None:
    assert list(got) == list(want)
    for key, value in want.items():
        assert got[key].dtype == value.dtype and got[key].shape == value.shape, key
        assert got[key].stride() == value.stride(), key
        assert torch.equal(got[key], value), key


@pytest.mark.parametrize("kind", ["scripted", "traced"])
def test_reads_exactly_what_torch_jit_load_gives(archives, kind):
    got = read_torchscript_state_dict(archives[kind])
    _same(got, torch.jit.load(str(archives[kind])).state_dict())
    # the eager module's state, plus the non-persistent buffer TorchScript keeps as a buffer
    eager = _sample().state_dict()
    assert [k for k in got if k != "scratch"] == list(eager)
    assert "plain" not in got and "convs.1.bias" not in got and got["shared.weight"] is not None
    assert torch.equal(got["scale"], eager["scale"]) and not got["scale"].is_contiguous()


def test_a_plain_module_gives_exactly_its_state_dict(tmp_path):
    torch.manual_seed(1)
    module = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Sequential(nn.Linear(4, 5), nn.LayerNorm(5)))
    path = tmp_path / "plain.pt"
    torch.jit.save(torch.jit.trace(module, torch.rand(1, 3, 6, 6)), str(path))
    _same(read_torchscript_state_dict(path), module.state_dict())


def test_meta_mode_checks_without_reading_data(archives):
    meta = read_torchscript_state_dict(archives["scripted"], read_data=False)
    full = read_torchscript_state_dict(archives["scripted"])
    assert list(meta) == list(full)
    assert all(v.device.type == "meta" and v.shape == full[k].shape and v.dtype == full[k].dtype
               for k, v in meta.items())


def test_tells_torchscript_from_other_files(archives, tmp_path):
    assert is_torchscript_archive(archives["traced"])
    saved = tmp_path / "state.pt"
    torch.save({"w": torch.ones(2)}, saved)  # a torch.save zip: data.pkl but no code/
    (tmp_path / "junk.pt").write_bytes(b"not a zip")
    assert not is_torchscript_archive(saved) and not is_torchscript_archive(tmp_path / "junk.pt")


# --- hostile archives -------------------------------------------------------------------------


def _s(text: str) -> bytes:
    data = text.encode()
    return b"X" + len(data).to_bytes(4, "little") + data  # BINUNICODE


def _int(value: int) -> bytes:
    return b"J" + value.to_bytes(4, "little", signed=True)  # BININT


def _global(module: str, name: str) -> bytes:
    return b"c" + f"{module}\n{name}\n".encode()


def _tensor(key: str, numel: int, size: tuple[int, ...], stride: tuple[int, ...], offset: int = 0) -> bytes:
    """``_rebuild_tensor_v2((storage pid), offset, size, stride, False, OrderedDict())``."""
    pid = b"(" + _s("storage") + _global("torch", "FloatStorage") + _s(key) + _s("cpu") + _int(numel) + b"tQ"
    tup = lambda vals: b"(" + b"".join(_int(v) for v in vals) + b"t"  # noqa: E731
    return (_global("torch._utils", "_rebuild_tensor_v2") + b"(" + pid + _int(offset) + tup(size) + tup(stride)
            + b"\x89" + _global("collections", "OrderedDict") + b")R" + b"tR")


def _module(attrs: bytes, cls: str = "M") -> bytes:
    """A ``__torch__`` object built as torch.jit.save writes modules: NEWOBJ, then BUILD."""
    return _global("__torch__", cls) + b")\x81" + b"}(" + _s("training") + b"\x88" + attrs + b"ub"


def _archive(path: Path, pickle_bytes: bytes, storages: dict[str, bytes] | None = None,
             code: str = "class M(Module):\n  __parameters__ = [\"weight\", ]\n  __buffers__ = []\n") -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", pickle_bytes)
        zf.writestr("archive/code/__torch__.py", code)
        zf.writestr("archive/version", "3\n")
        for key, data in (storages or {}).items():
            zf.writestr(f"archive/data/{key}", data)
    return path


def _pickle(body: bytes) -> bytes:
    return b"\x80\x02" + body + b"."


def test_the_assembler_makes_readable_archives(tmp_path):
    """The hostile cases below differ from this readable one in one thing each."""
    weights = torch.arange(6, dtype=torch.float32)
    data = _pickle(_module(_s("weight") + _tensor("0", 6, (2, 3), (3, 1))))
    path = _archive(tmp_path / "ok.pt", data, {"0": weights.numpy().tobytes()})
    got = read_torchscript_state_dict(path)
    assert list(got) == ["weight"] and torch.equal(got["weight"], weights.view(2, 3))


class _Payload:
    def __init__(self, fn, arg):
        self.fn, self.arg = fn, arg

    def __reduce__(self):
        return self.fn, (self.arg,)


@pytest.mark.parametrize("protocol", [2, 4])  # GLOBAL, and STACK_GLOBAL (name taken from the stack)
@pytest.mark.parametrize("payload", ["system", "eval"])
def test_code_running_globals_are_refused_and_nothing_runs(tmp_path, protocol, payload):
    marker = tmp_path / "ran"
    if payload == "system":
        evil = _Payload(os.system, f"touch {marker}")
        named = "posix.system" if os.name == "posix" else "nt.system"
    else:
        evil = _Payload(eval, f"__import__('pathlib').Path({str(marker)!r}).touch()")
        named = "(__builtin__|builtins).eval"  # protocol 2 writes Python 2's module name
    path = _archive(tmp_path / "evil.pt", pickle.dumps(evil, protocol=protocol))
    with pytest.raises(CheckpointError, match=rf"{path.name}.*{named}.*refused"):
        read_torchscript_state_dict(path)
    assert not marker.exists()


def test_a_global_hidden_inside_a_module_is_refused(tmp_path):
    marker = tmp_path / "ran"
    inner = pickle.dumps(_Payload(os.system, f"touch {marker}"), protocol=2)[2:-1]  # its opcodes only
    path = _archive(tmp_path / "evil.pt", _pickle(_module(_s("hook") + inner)))
    with pytest.raises(CheckpointError, match="system"):
        read_torchscript_state_dict(path)
    assert not marker.exists()


def test_a_huge_claimed_storage_is_refused_before_allocating(tmp_path):
    data = _pickle(_module(_s("weight") + _tensor("0", 2**31 - 1, (2**31 - 1,), (1,))))
    path = _archive(tmp_path / "huge.pt", data, {"0": b"\0" * 16})
    with pytest.raises(CheckpointError, match="claims 8589934588 bytes but its entry holds 16"):
        read_torchscript_state_dict(path)


def test_total_storage_budget(tmp_path, monkeypatch):
    monkeypatch.setattr(tw, "MAX_STORAGE_BYTES", 20)
    data = _pickle(_module(_s("weight") + _tensor("0", 6, (6,), (1,))))
    path = _archive(tmp_path / "big.pt", data, {"0": b"\0" * 24})
    with pytest.raises(CheckpointError, match="past the 20 bytes"):
        read_torchscript_state_dict(path)


def test_a_tensor_reaching_past_its_storage_is_refused(tmp_path):
    data = _pickle(_module(_s("weight") + _tensor("0", 4, (3, 3), (3, 1))))
    path = _archive(tmp_path / "oob.pt", data, {"0": b"\0" * 16})
    with pytest.raises(CheckpointError, match="reaching element 8 of a storage of 4"):
        read_torchscript_state_dict(path)


def test_a_missing_storage_entry_is_refused(tmp_path):
    data = _pickle(_module(_s("weight") + _tensor("7", 1, (1,), (1,))))
    with pytest.raises(CheckpointError, match="storage 7 is missing"):
        read_torchscript_state_dict(_archive(tmp_path / "missing.pt", data))


def test_a_truncated_zip_is_refused(archives, tmp_path):
    whole = archives["traced"].read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(CheckpointError, match="cut.pt: not a complete zip archive"):
        read_torchscript_state_dict(cut)


def test_a_truncated_pickle_is_refused(tmp_path):
    data = _pickle(_module(_s("weight") + _tensor("0", 1, (1,), (1,))))[:-9]
    with pytest.raises(CheckpointError, match="damaged"):
        read_torchscript_state_dict(_archive(tmp_path / "cut.pt", data, {"0": b"\0" * 4}))


def test_a_module_containing_itself_is_refused(tmp_path):
    # the object is memoised (BINPUT 1) before its state, which names it again (BINGET 1)
    body = _global("__torch__", "M") + b")\x81q\x01}(" + _s("training") + b"\x88" + _s("child") + b"h\x01ub"
    path = _archive(tmp_path / "loop.pt", _pickle(body), code="class M(Module):\n  __parameters__ = []\n"
                    "  __buffers__ = []\n")
    with pytest.raises(CheckpointError, match="module child contains itself"):
        read_torchscript_state_dict(path)


def test_deep_nesting_is_refused(tmp_path):
    body = _module(b"")
    for _ in range(tw.MAX_DEPTH + 2):
        body = _module(_s("child") + body)
    path = _archive(tmp_path / "deep.pt", _pickle(body), code="")
    with pytest.raises(CheckpointError, match="deeper than"):
        read_torchscript_state_dict(path)


def test_too_many_entries_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(tw, "MAX_ENTRIES", 3)
    data = _pickle(_module(b""))
    path = _archive(tmp_path / "many.pt", data, {str(i): b"" for i in range(4)})
    with pytest.raises(CheckpointError, match="zip entries"):
        read_torchscript_state_dict(path)


def test_a_declared_parameter_that_is_not_a_tensor_is_refused(tmp_path):
    path = _archive(tmp_path / "odd.pt", _pickle(_module(_s("weight") + _int(3))))
    with pytest.raises(CheckpointError, match="weight is declared a parameter or buffer but holds int"):
        read_torchscript_state_dict(path)


def test_a_root_that_is_not_a_module_is_refused(tmp_path):
    path = _archive(tmp_path / "dict.pt", _pickle(b"}"))
    with pytest.raises(CheckpointError, match="holds a dict, not a TorchScript module"):
        read_torchscript_state_dict(path)


def test_unusual_opcodes_are_refused(tmp_path):
    # INST builds an object from a class named inline; TorchScript never writes it
    body = b"(" + b"ibuiltins\nlist\n"
    path = _archive(tmp_path / "inst.pt", _pickle(body))
    with pytest.raises(CheckpointError, match="INST opcode"):
        read_torchscript_state_dict(path)


def test_reading_does_not_import_or_compile_the_code(archives, monkeypatch):
    """The code in code/ is read as text only: neither compile nor exec is reached."""
    import builtins

    def refuse(*args, **kwargs):
        raise AssertionError("code was compiled or run")

    monkeypatch.setattr(builtins, "compile", refuse)
    monkeypatch.setattr(builtins, "exec", refuse)
    monkeypatch.setattr(torch.jit, "load", refuse)
    assert "convs.0.0.weight" in read_torchscript_state_dict(archives["scripted"])

