"""Tensors read on several threads equal what the safetensors library reads, in the order
asked for, chunked or not; a file cut short after its header was checked is named."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file

from wfrun.models import parallel_read
from wfrun.models.header import CheckpointError
from wfrun.models.reader import open_checkpoint


@pytest.fixture
def checkpoint(tmp_path):
    generator = torch.Generator().manual_seed(0)
    tensors = {
        "big.weight": torch.randn(300, 257, generator=generator),  # spans many small chunks below
        "half": torch.randn(7, 5, generator=generator).half(),
        "bf": torch.randn(33, generator=generator).bfloat16(),
        "fp8": torch.randn(16, 16, generator=generator).to(torch.float8_e4m3fn),
        "ids": torch.arange(10, dtype=torch.int64),
        "flag": torch.tensor([True, False, True]),
        "empty": torch.zeros(0, 4),
        "scalar": torch.tensor(3.5),
    }
    path = tmp_path / "model.safetensors"
    save_file(tensors, str(path))
    return path


@pytest.mark.parametrize("chunk", [parallel_read.CHUNK_BYTES, 1000, 4096])
@pytest.mark.parametrize("threads", ["1", "3"])
def test_every_tensor_equals_the_library_read_in_the_order_asked(checkpoint, monkeypatch, chunk, threads):
    monkeypatch.setattr(parallel_read, "CHUNK_BYTES", chunk)
    monkeypatch.setenv(parallel_read.THREADS_ENV, threads)
    expected = load_file(str(checkpoint))
    order = ["scalar", "fp8", "big.weight", "empty", "ids", "half", "flag", "bf"]
    with open_checkpoint(checkpoint) as reader:
        got = list(reader.iter_tensors(order))
    assert [name for name, _ in got] == order
    for name, tensor in got:
        assert tensor.dtype == expected[name].dtype and tensor.shape == expected[name].shape, name
        assert torch.equal(_bytes(tensor), _bytes(expected[name])), name


def test_a_small_lookahead_still_reads_everything(checkpoint, monkeypatch):
    monkeypatch.setattr(parallel_read, "CHUNK_BYTES", 512)
    expected = load_file(str(checkpoint))
    with open_checkpoint(checkpoint) as reader:
        entries = [(name, reader.tensors[name], expected[name].dtype) for name in reader.tensors]
    got = dict(parallel_read.read_tensors(checkpoint, entries, torch.device("cpu"), threads=2, lookahead=1))
    assert got.keys() == expected.keys()
    assert all(torch.equal(_bytes(got[k]), _bytes(expected[k])) for k in expected)


def _bytes(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.reshape(-1).view(torch.uint8)


def test_a_file_cut_short_after_its_header_was_read_is_named(checkpoint):
    with open_checkpoint(checkpoint) as reader:
        last = max(reader.tensors, key=lambda name: reader.tensors[name].end)
        with open(checkpoint, "r+b") as handle:
            handle.truncate(reader.tensors[last].end - 3)
        with pytest.raises(CheckpointError, match="model.safetensors: truncated .*" + last.replace(".", r"\.")):
            list(reader.iter_tensors())


def test_stopping_early_leaves_no_thread_behind(checkpoint, monkeypatch):
    import threading

    monkeypatch.setattr(parallel_read, "CHUNK_BYTES", 256)
    with open_checkpoint(checkpoint) as reader:
        tensors = reader.iter_tensors()
        next(tensors)
        tensors.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("wfrun-read")]


def test_read_threads_follow_the_variable(monkeypatch):
    monkeypatch.setenv(parallel_read.THREADS_ENV, "5")
    assert parallel_read.read_threads() == 5
    monkeypatch.setenv(parallel_read.THREADS_ENV, "none")
    assert 1 <= parallel_read.read_threads() <= 8


@pytest.mark.parametrize("inference", [True, False])
def test_staged_copies_follow_the_callers_inference_mode(checkpoint, monkeypatch, inference):
    """A job runs inside torch.inference_mode, so the tensors it reads into are inference
    tensors; the reading threads' copies into them must run in that mode too (the H200 run
    of a core loader failed with 'Inplace update to inference tensor outside InferenceMode'
    before they did). The staged path is the GPU's, here on the CPU."""
    monkeypatch.setattr(parallel_read, "CHUNK_BYTES", 1000)
    expected = load_file(str(checkpoint))
    with open_checkpoint(checkpoint) as reader:
        entries = [(name, reader.tensors[name], expected[name].dtype) for name in reader.tensors]
    with torch.inference_mode(inference):
        got = dict(parallel_read.read_tensors(checkpoint, entries, torch.device("cpu"), threads=3, staged=True))
    assert all(torch.equal(_bytes(got[k]), _bytes(expected[k])) for k in expected)
    assert all(t.is_inference() == inference for t in got.values())
