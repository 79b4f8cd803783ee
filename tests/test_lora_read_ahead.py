"""LoRA files read in one piece and ahead of the pass that merges them
(``models.lora_read``, ``lora_files.prefetch``, the executors' ``prefetch`` hook): the same
tensors as safetensors' own reader, handed over once, never served stale, not read for a
strength of 0 or a merge already kept, and dropped at the end of a run nobody took them in."""

from __future__ import annotations

import os
import threading

import pytest
import torch
from safetensors.torch import load_file, save_file
from tiny_transformer import tiny_wan

from wfrun.models import lora_files, lora_read
from wfrun.models.lora_files import merged, unmerge


@pytest.fixture(autouse=True)
def nothing_held():
    yield
    with lora_read._LOCK:
        lora_read._HELD.clear()


def write_lora(path, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    down, up = torch.randn(2, 32, generator=g), torch.randn(32, 2, generator=g)
    save_file({"diffusion_model.blocks.0.self_attn.q.lora_down.weight": down,
               "diffusion_model.blocks.0.self_attn.q.lora_up.weight": up,
               "diffusion_model.blocks.0.self_attn.q.alpha": torch.tensor(1.0)}, str(path))
    return down, up


def test_one_read_gives_every_tensor_as_safetensors_reads_it(tmp_path):
    g = torch.Generator().manual_seed(0)
    # odd element counts put later tensors off their dtype's alignment inside the one buffer
    tensors = {"a.bf16": torch.randn(3, generator=g).to(torch.bfloat16), "b.f32": torch.randn(5, 7, generator=g),
               "c.u8": torch.arange(3, dtype=torch.uint8), "d.f16": torch.randn(2, 3, generator=g).half(),
               "e.i64": torch.arange(4), "f.fp8": torch.randn(9, generator=g).to(torch.float8_e4m3fn),
               "g.empty": torch.zeros(0, 4)}
    save_file(tensors, str(tmp_path / "m.safetensors"))
    expected = load_file(str(tmp_path / "m.safetensors"))
    got = lora_read.read_all(tmp_path / "m.safetensors")
    assert got.keys() == expected.keys()
    for name, tensor in expected.items():
        assert got[name].dtype == tensor.dtype and got[name].shape == tensor.shape
        assert torch.equal(got[name].view(torch.uint8), tensor.view(torch.uint8)), name


def test_a_tensor_off_its_alignment_in_the_file_is_read_whole(tmp_path):
    """safetensors' own writer orders tensors by alignment; other writers need not: an f32
    right after three bf16 values starts 6 bytes into the data."""
    import json
    import struct

    first = torch.tensor([1.5, -2.0, 3.25], dtype=torch.bfloat16)
    second = torch.tensor([[0.1, 0.2], [0.3, 0.4]], dtype=torch.float32)
    header = json.dumps({"first": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 6]},
                         "second": {"dtype": "F32", "shape": [2, 2], "data_offsets": [6, 22]}}).encode()
    header += b" " * (-len(header) % 8)
    data = first.view(torch.uint8).numpy().tobytes() + second.numpy().tobytes()
    (tmp_path / "odd.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + data)
    got = lora_read.read_all(tmp_path / "odd.safetensors")
    assert torch.equal(got["first"], first) and torch.equal(got["second"], second)


def test_a_read_ahead_is_handed_over_once(tmp_path, monkeypatch):
    path = tmp_path / "l.safetensors"
    down, up = write_lora(path)
    reads = []
    original = lora_read.read_all
    monkeypatch.setattr(lora_read, "read_all", lambda p: reads.append(threading.current_thread().name) or original(p))
    release = lora_files.prefetch(path, 1.0)
    assert lora_read.held_files() == [str(path.resolve())]
    parts = lora_files.read_lora(path)  # takes the read ahead
    assert torch.equal(parts["blocks.0.self_attn.q"]["down"], down) and torch.equal(parts["blocks.0.self_attn.q"]["up"], up)
    assert reads == ["wfrun-lora-read_0"] and lora_read.held_files() == []
    lora_files.read_lora(path)  # nothing held any more: read at its turn, here
    assert reads == ["wfrun-lora-read_0", threading.current_thread().name]
    release()  # after it was taken: nothing to drop, nothing breaks


def test_a_file_changed_on_disk_after_its_read_ahead_is_read_again(tmp_path):
    path = tmp_path / "l.safetensors"
    write_lora(path, seed=1)
    lora_files.prefetch(path, 1.0)
    lora_read._HELD[next(iter(lora_read._HELD))][1].result()  # the old file is read
    down, _ = write_lora(path, seed=2)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert lora_read.take(path) is None
    assert torch.equal(lora_files.read_lora(path)["blocks.0.self_attn.q"]["down"], down)


def test_what_nobody_took_is_dropped_by_its_release(tmp_path):
    path = tmp_path / "l.safetensors"
    write_lora(path)
    release = lora_files.prefetch(path, 1.0)
    assert lora_files.prefetch(path, 1.0)() is None and len(lora_read.held_files()) == 1  # not read twice
    release()
    assert lora_read.held_files() == [] and lora_read.take(path) is None


def test_no_read_ahead_for_strength_zero_a_kept_merge_or_too_much(tmp_path, monkeypatch):
    path = tmp_path / "l.safetensors"
    write_lora(path)
    lora_files.prefetch(path, 0.0)
    assert lora_read.held_files() == []
    model = tiny_wan(2)
    try:
        with merged(model, [(path, 1.0)], keep=True):
            pass
        lora_files.prefetch(path, 1.0)  # the next seed's pass merges nothing: no read
        assert lora_read.held_files() == []
    finally:
        unmerge(model)
    monkeypatch.setattr(lora_read, "MAX_HELD_BYTES", path.stat().st_size - 1)
    lora_files.prefetch(path, 1.0)
    assert lora_read.held_files() == []


def test_the_core_lora_loader_reads_its_file_ahead(tmp_path):
    from wfrun.nodes.executor import ExecContext
    from wfrun.packs.comfy_core_models.loaders import read_lora_ahead

    (tmp_path / "loras").mkdir()
    write_lora(tmp_path / "loras" / "style.safetensors")
    ctx = ExecContext(models=tmp_path)
    release = read_lora_ahead(ctx, {"lora_name": "style.safetensors", "strength_model": 0.7})
    assert lora_read.held_files() == [str((tmp_path / "loras" / "style.safetensors").resolve())]
    release()
    read_lora_ahead(ctx, {"lora_name": "style.safetensors", "strength_model": 0})
    read_lora_ahead(ctx, {"strength_model": 1.0})  # the name comes by a link: known only at its turn
    assert lora_read.held_files() == []


def test_the_wrappers_lora_selects_read_their_files_ahead(tmp_path, monkeypatch):
    """WanVideoLoraSelect and WanVideoLoraSelectMulti (59 and 18 of the public sets' files)
    name their files when the run starts; the loader's or sampler's ``read_lora`` then takes
    them from memory without reading the file again. Slots left out by the node (``none``, a
    strength that rounds to 0, a name that comes by a link) are not read."""
    from wfrun.engine.executors import executor_info
    from wfrun.nodes.executor import ExecContext

    (tmp_path / "loras").mkdir()
    down, _ = write_lora(tmp_path / "loras" / "a.safetensors", seed=1)
    write_lora(tmp_path / "loras" / "b.safetensors", seed=2)
    ctx = ExecContext(models=tmp_path)
    resolved = {n: str((tmp_path / "loras" / n).resolve()) for n in ("a.safetensors", "b.safetensors")}

    select = executor_info("WanVideoLoraSelect").prefetch
    release = select(ctx, {"lora": "a.safetensors", "strength": 1.0})
    assert lora_read.held_files() == [resolved["a.safetensors"]]
    reads = []
    monkeypatch.setattr(lora_read, "read_all", lambda path: reads.append(path) or load_file(str(path)))
    parts = lora_files.read_lora(tmp_path / "loras" / "a.safetensors")
    assert reads == [] and torch.equal(parts["blocks.0.self_attn.q"]["down"], down)
    release()
    assert lora_read.held_files() == []

    multi = executor_info("WanVideoLoraSelectMulti").prefetch
    release = multi(ctx, {"lora_0": "none", "strength_0": 1.0, "lora_1": "b.safetensors", "strength_1": 0.00001,
                          "lora_2": "b.safetensors", "strength_2": 0.5, "strength_3": 1.0,
                          "lora_4": "missing.safetensors", "strength_4": 1.0})  # named at the node's turn
    assert lora_read.held_files() == [resolved["b.safetensors"]]
    release()
    assert lora_read.held_files() == []
    assert multi(ctx, {"lora_0": "a.safetensors", "strength_0": 0.0}) is lora_read.no_release
