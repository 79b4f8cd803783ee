"""Files that are not usable checkpoints: one line that names the file, never a traceback."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import pytest
import torch
from test_models_support import tiny_models_root, transformer_inputs

from wfrun.models.detect import detect
from wfrun.models.header import CheckpointError, read_checkpoint_header
from wfrun.models.load import load_model, load_text_encoder, load_transformer, load_vae
from wfrun.models.reader import open_checkpoint

KIJAI_T2V = "diffusion_models/Wan2_1-T2V-1_3B_tiny_bf16.safetensors"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_models_root(tmp_path_factory)


def one_line_error(call, path, *needles):
    """``call()`` raises a CheckpointError of one line, naming ``path`` and saying ``needles``."""
    with pytest.raises(CheckpointError) as err:
        call()
    message = str(err.value)
    assert "\n" not in message, message
    assert str(path) in message, message
    for needle in needles:
        assert needle in message, message
    return message


# --- not safetensors ---------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".ckpt", ".pt", ".pth", ".bin"])
def test_pickle_files_are_refused_without_opt_in(tmp_path, suffix):
    path = tmp_path / f"model{suffix}"
    torch.save({"blocks.0.self_attn.q.weight": torch.zeros(2, 2)}, path)
    for call in (lambda: detect(path), lambda: load_model(path), lambda: load_transformer(path)):
        one_line_error(call, path, "pickle", "can run code", ".safetensors", "allow_pickle=True")


def test_opt_in_reads_pickles_with_weights_only(tiny, tmp_path):
    """With allow_pickle=True a .pt state dict (also nested in "state_dict") loads, and gives
    the same module as the safetensors file it came from."""
    from safetensors.torch import load_file

    source = tiny / KIJAI_T2V
    path = tmp_path / "Wan2_1-T2V-1_3B.pt"
    torch.save({"state_dict": load_file(str(source))}, path)
    assert detect(path, allow_pickle=True).variant == "t2v"
    model = load_model(path, allow_pickle=True, num_heads=2)  # a .pt file has no metadata to say so
    reference = load_transformer(source)
    inputs = transformer_inputs("t2v", torch.bfloat16)
    with torch.no_grad():
        assert torch.equal(model(**inputs)[0], reference(**inputs)[0])


class Payload:
    """Stands for the code a malicious pickle would run."""

    def __reduce__(self):
        return (print, ("this must never run",))


def test_opt_in_still_refuses_pickled_code(tmp_path, capsys):
    path = tmp_path / "evil.ckpt"
    torch.save({"weight": torch.zeros(1), "payload": Payload()}, path)
    one_line_error(lambda: open_checkpoint(path, allow_pickle=True), path, "weights-only")
    assert "must never run" not in capsys.readouterr().out


def test_opt_in_refuses_a_pickle_without_tensors(tmp_path):
    path = tmp_path / "numbers.pt"
    torch.save({"step": 3}, path)
    one_line_error(lambda: open_checkpoint(path, allow_pickle=True), path, "no plain tensor state dict")


def test_gguf_is_refused(tmp_path):
    path = tmp_path / "wan2.1-i2v-14b-480p-Q4_K_M.gguf"
    path.write_bytes(b"GGUF" + bytes(60))
    one_line_error(lambda: load_transformer(path), path, "GGUF", ".safetensors")


@pytest.mark.parametrize("content,needle", [
    (b"", "too short"),
    (b"\x01\x02", "too short"),
    (b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n", "Git LFS pointer"),
    (b"<!DOCTYPE html><html><body>Not found</body></html>", "web page"),
    (b"PK\x03\x04" + bytes(100), "zip archive"),
    (b"\x80\x02}q\x00" + bytes(100), "pickle"),
    (b"\xff" * 200, "not a safetensors file"),
])
def test_not_a_safetensors_file(tmp_path, content, needle):
    path = tmp_path / "Wan2_1-I2V-14B-480P_fp8_e4m3fn.safetensors"
    path.write_bytes(content)
    one_line_error(lambda: load_model(path), path, needle)


def test_missing_file_and_folder(tmp_path):
    missing = tmp_path / "nope.safetensors"
    one_line_error(lambda: load_vae(missing), missing, "cannot be read")
    folder = tmp_path / "dir.safetensors"
    folder.mkdir()
    one_line_error(lambda: detect(folder), folder, "cannot be read")


# --- truncated -----------------------------------------------------------------------------


@pytest.mark.parametrize("keep", [0.999, 0.5, 0.05])
def test_truncated_file(tiny, tmp_path, keep):
    data = (tiny / KIJAI_T2V).read_bytes()
    header_end = 8 + struct.unpack("<Q", data[:8])[0]
    path = tmp_path / "cut.safetensors"
    path.write_bytes(data[: max(header_end + 1, int(len(data) * keep))])
    one_line_error(lambda: load_transformer(path), path, "truncated", "download it again")
    one_line_error(lambda: detect(path), path, "truncated")


def test_header_cut_short(tiny, tmp_path):
    data = (tiny / KIJAI_T2V).read_bytes()
    path = tmp_path / "cut.safetensors"
    path.write_bytes(data[:100])
    one_line_error(lambda: load_model(path), path, "not a safetensors file")


def test_file_shrunk_after_the_header_was_read(tiny, tmp_path):
    """A file cut while being loaded (a sync tool, a full disk) is named, not a crash."""
    path = tmp_path / "shrinks.safetensors"
    path.write_bytes((tiny / KIJAI_T2V).read_bytes())
    reader = open_checkpoint(path)
    with path.open("r+b") as handle:
        handle.truncate(path.stat().st_size // 2)
    last = list(reader.tensors)[-1]
    with reader:
        one_line_error(lambda: reader.read(last), path, "truncated", last)


# --- corrupt headers -------------------------------------------------------------------------


def _with_header(tmp_path, tiny, edit) -> Path:
    data = (tiny / KIJAI_T2V).read_bytes()
    size = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8: 8 + size])
    raw = edit(header)
    if isinstance(raw, dict):
        raw = json.dumps(raw).encode()
    path = tmp_path / "edited.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + size:])
    return path


def _first_tensor(header):
    return next(k for k in header if k != "__metadata__")


@pytest.mark.parametrize("edit,needle", [
    (lambda h: b"{not json" + b" " * 40, "corrupt safetensors header (not JSON)"),
    (lambda h: b"\xff\xfe" * 30, "corrupt safetensors header (not JSON)"),
    (lambda h: b"[1, 2, 3]", "corrupt safetensors header (not an object)"),
    (lambda h: {**h, "__metadata__": [1]}, "__metadata__ is not an object"),
    (lambda h: {**h, _first_tensor(h): "x"}, "is not an object"),
    (lambda h: {**h, _first_tensor(h): {**h[_first_tensor(h)], "dtype": None}}, "has no dtype"),
    (lambda h: {**h, _first_tensor(h): {**h[_first_tensor(h)], "shape": [-1]}}, "has no valid shape"),
    (lambda h: {**h, _first_tensor(h): {**h[_first_tensor(h)], "data_offsets": [5, 2]}}, "has no valid data_offsets"),
    (lambda h: {**h, _first_tensor(h): {**h[_first_tensor(h)], "shape": [7, 7]}}, "holds"),
    (lambda h: {**h, _first_tensor(h): {**h[_first_tensor(h)], "data_offsets": [10 ** 12, 10 ** 12 + 4096]}},
     "truncated"),
])
def test_corrupt_header(tiny, tmp_path, edit, needle):
    path = _with_header(tmp_path, tiny, edit)
    one_line_error(lambda: read_checkpoint_header(path), path, needle)
    one_line_error(lambda: load_model(path), path, needle)


def test_unreadable_dtype_is_named(tiny, tmp_path):
    """A dtype the safetensors format defines but torch cannot hold as wfrun reads it (an
    unsigned type of the same width) passes the header check and is named when read."""
    unsigned = {2: "U16", 4: "U32", 8: "U64"}

    def edit(h):
        name = _first_tensor(h)
        start, end = h[name]["data_offsets"]
        width = (end - start) // math.prod(h[name]["shape"])
        h[name] = {**h[name], "dtype": unsigned[width]}
        return h

    path = _with_header(tmp_path, tiny, edit)
    name = next(iter(read_checkpoint_header(tiny / KIJAI_T2V).tensors))  # the first in file order
    dtype = read_checkpoint_header(path).tensors[name].dtype
    with open_checkpoint(path) as reader:
        one_line_error(lambda: reader.read(name), path, dtype, name, "cannot read")


# --- a checkpoint whose tensors do not fit the model ------------------------------------------


def _rewrite(tiny, tmp_path, relpath, change):
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(tiny / relpath))
    with safe_open(str(tiny / relpath), "pt") as handle:
        metadata = handle.metadata()
    change(tensors)
    path = tmp_path / "changed.safetensors"
    save_file(tensors, str(path), metadata=metadata)
    return path


def test_missing_tensor(tiny, tmp_path):
    path = _rewrite(tiny, tmp_path, KIJAI_T2V, lambda t: t.pop("blocks.1.cross_attn.v.weight"))
    one_line_error(lambda: load_transformer(path), path, "lacks tensors", "blocks.1.attn2.to_v.weight")


def test_unknown_tensor(tiny, tmp_path):
    path = _rewrite(tiny, tmp_path, KIJAI_T2V,
                    lambda t: t.update({"blocks.0.self_attn.extra.weight": torch.zeros(2, 2)}))
    one_line_error(lambda: load_transformer(path), path, "does not have", "blocks.0.self_attn.extra.weight")


def test_tensor_of_the_wrong_shape(tiny, tmp_path):
    path = _rewrite(tiny, tmp_path, KIJAI_T2V,
                    lambda t: t.update({"blocks.1.ffn.2.weight": torch.zeros(32, 48, dtype=torch.bfloat16)}))
    one_line_error(lambda: load_transformer(path), path, "blocks.1.ffn.2.weight", "[32, 48]", "needs [32, 64]")


def test_text_encoder_with_a_missing_layer(tiny, tmp_path):
    path = _rewrite(tiny, tmp_path, "text_encoders/umt5_xxl_tiny_fp16.safetensors",
                    lambda t: t.pop("encoder.final_layer_norm.weight"))
    one_line_error(lambda: load_text_encoder(path), path, "lacks tensors", "encoder.final_layer_norm.weight")


def test_bad_options_are_clear(tiny):
    path = tiny / KIJAI_T2V
    with pytest.raises(ValueError, match="unknown dtype 'fp64'"):
        load_transformer(path, dtype="fp64")
    with pytest.raises(ValueError, match="unknown quantization 'int4'"):
        load_transformer(path, quantization="int4")
