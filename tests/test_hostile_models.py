"""Hostile and broken files around a run: model files, extra_model_paths.yaml, extractor arguments.

Every case ends in one clear error that names the file (and the workflow node and input
where a workflow asked for the file), exit 1 for a workflow's problem and 2 for usage or
environment, never a traceback. The corrupt safetensors files are written with the
``safetensors`` library and then edited byte by byte; the library itself is the reference
that each edit really breaks the file (it refuses every one of them too), and that the
controls are valid.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from test_models_support import tiny_models_root

from wfrun.cli import main
from wfrun.models.header import CheckpointError, read_checkpoint_header
from wfrun.models.load import load_transformer
from wfrun.models.paths import MAX_YAML_BYTES, MAX_YAML_VALUES
from wfrun.models.reader import open_checkpoint

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / "workflows" / "wan_t2v_tiny.json"

#: The three files wan_t2v_tiny.json loads: node id, input, folder and tiny file.
TRANSFORMER = ("22", "model", "diffusion_models/Wan2_1-T2V-1_3B_tiny_bf16.safetensors")
VAE = ("38", "model_name", "vae/Wan2_1_VAE_tiny_fp32.safetensors")
TEXT_ENCODER = ("11", "model_name", "text_encoders/umt5-xxl-enc-tiny-bf16.safetensors")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return tiny_models_root(tmp_path_factory)


@pytest.fixture
def models(tiny, tmp_path) -> Path:
    """A models folder of copies of the files the workflow loads, free to be corrupted."""
    folder = tmp_path / "models"
    for _, _, rel in (TRANSFORMER, VAE, TEXT_ENCODER):
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tiny / rel, folder / rel)
    return folder


def invoke(*args: str, env: dict[str, str] | None = None):
    """The CLI in-process; an uncaught exception fails the test instead of becoming exit 1.
    The pickle opt-in of the calling shell is cleared: only ``env`` may give it."""
    return CliRunner().invoke(main, list(args), catch_exceptions=False, env={"WFRUN_ALLOW_PICKLE": None, **(env or {})})


def dry_run(models: Path, *extra: str, env: dict[str, str] | None = None):
    return invoke("run", "--dry-run", "--models", str(models), *extra, str(WORKFLOW), env=env)


def assert_clean_error(result, code: int, *needles: str) -> None:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output, result.output
    for needle in needles:
        assert needle in result.output, result.output


def assert_node_error(result, node: tuple[str, str, str], path: Path, *needles: str) -> None:
    """Exit 1, naming the workflow, the node, its input, the model file and ``needles``."""
    node_id, input_name, _ = node
    assert_clean_error(result, 1, str(WORKFLOW), f"node {node_id} ", f"input '{input_name}'", str(path), *needles)


# --- safetensors files, corrupted byte by byte ---------------------------------------------


def split(path: Path) -> tuple[dict, bytes]:
    """A safetensors file's header object and its data section."""
    data = path.read_bytes()
    size = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8: 8 + size]), data[8 + size:]


def join(path: Path, header: dict | bytes, body: bytes) -> Path:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + body)
    return path


def library_refuses(path: Path) -> bool:
    """Whether the safetensors library refuses the file (opening it, or reading any tensor)."""
    try:
        with safe_open(str(path), "pt") as handle:
            for key in handle.keys():
                handle.get_tensor(key)
    except Exception:  # noqa: BLE001 - the library's own error types vary by version
        return True
    return False


def small_file(path: Path) -> Path:
    """Two float32 tensors of 16 bytes each: a at data bytes 0..16, b at 16..32."""
    save_file({"a": torch.arange(4, dtype=torch.float32), "b": torch.ones(4)}, str(path))
    header, _ = split(path)
    assert header["a"]["data_offsets"] == [0, 16] and header["b"]["data_offsets"] == [16, 32]
    return path


def _entry(header: dict, name: str, **change) -> dict:
    return {**header, name: {**header[name], **change}}


# Each edit takes (header, body) and returns (header or raw header bytes, body, prefix or None).
CORRUPTIONS = {
    "header length larger than the file": (lambda h, b: (h, b, "too_long"), "larger than the"),
    "absurd header length": (lambda h, b: (h, b, 2 ** 40), "over the format's limit"),
    "header not JSON": (lambda h, b: (b"{" + b"x" * 30, b, None), "not JSON"),
    "header not UTF-8": (lambda h, b: (b"{\xff\xfe" + b" " * 30, b, None), "not JSON"),
    "header not an object": (lambda h, b: (b"[1, 2, 3]", b, None), "not an object"),
    "metadata not text": (lambda h, b: ({**h, "__metadata__": {"format": 1}}, b, None), "__metadata__"),
    "truncated data": (lambda h, b: (h, b[:-1], None), "truncated"),
    "tensor past the end": (lambda h, b: (_entry(h, "b", data_offsets=[10 ** 9, 10 ** 9 + 16]), b, None),
                            "truncated"),
    "overlapping tensors": (lambda h, b: (_entry(h, "b", data_offsets=[8, 24]), b[:24], None), "overlaps tensor 'a'"),
    "two tensors on the same bytes": (lambda h, b: (_entry(h, "b", data_offsets=[0, 16]), b[:16], None),
                                      "overlaps tensor"),
    "offsets backwards": (lambda h, b: (_entry(h, "b", data_offsets=[32, 16]), b, None), "before it starts"),
    "bytes between tensors": (lambda h, b: (_entry(h, "b", data_offsets=[20, 36]), b + bytes(4), None),
                              "belong to no tensor"),
    "bytes after the last tensor": (lambda h, b: (h, b + bytes(8), None), "after its last tensor"),
    "unknown dtype": (lambda h, b: (_entry(h, "a", dtype="F4_E2M1"), b, None), "unknown dtype 'F4_E2M1'"),
    "shape not matching the bytes": (lambda h, b: (_entry(h, "a", shape=[5]), b, None),
                                     "holds 16 bytes, not the 20"),
    "true as a dimension": (lambda h, b: (_entry(h, "a", shape=[True, 4]), b, None), "no valid shape"),
    "entry not an object": (lambda h, b: ({**h, "a": [1]}, b, None), "is not an object"),
}


def corrupt(source: Path, dest: Path, name: str) -> Path:
    edit, _ = CORRUPTIONS[name]
    header, body = split(source)
    new_header, new_body, prefix = edit(header, body)
    join(dest, new_header, new_body)
    if prefix is not None:  # rewrite the length prefix itself
        data = dest.read_bytes()
        size = len(data) if prefix == "too_long" else prefix
        dest.write_bytes(struct.pack("<Q", size) + data[8:])
    return dest


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_the_header_check_refuses_what_the_library_refuses(tmp_path, name):
    source = small_file(tmp_path / "good.safetensors")
    assert not library_refuses(source)
    assert list(read_checkpoint_header(source).tensors) == ["a", "b"]
    path = corrupt(source, tmp_path / "bad.safetensors", name)
    assert library_refuses(path)
    for check in (read_checkpoint_header, open_checkpoint):  # the dry run's check, and the loaders'
        with pytest.raises(CheckpointError) as err:
            check(path)
        message = str(err.value)
        assert "\n" not in message and str(path) in message and CORRUPTIONS[name][1] in message, message


def test_header_order_is_not_data_order(tmp_path):
    """Control: JSON lists tensors in any order and may start with spaces; the data order
    comes from the offsets. The library and wfrun both read such a file."""
    source = small_file(tmp_path / "good.safetensors")
    header, body = split(source)
    raw = b"  " + json.dumps({"b": header["b"], "a": header["a"]}).encode()
    path = join(tmp_path / "reordered.safetensors", raw, body)
    assert not library_refuses(path)
    checked = read_checkpoint_header(path)
    assert list(checked.tensors) == ["a", "b"]  # file order
    with open_checkpoint(path) as reader:
        assert torch.equal(reader.read("a"), load_file(str(path))["a"])


def test_a_header_length_that_looks_like_a_pickle_opcode_is_still_safetensors(tmp_path):
    """Control: a header of 640 bytes gives a length prefix starting 0x80 0x02, the bytes a
    pickle starts with; the content after it decides."""
    source = small_file(tmp_path / "good.safetensors")
    header, body = split(source)
    raw = json.dumps(header).encode()
    raw += b" " * (640 - len(raw))
    path = join(tmp_path / "640.safetensors", raw, body)
    assert path.read_bytes()[:2] == b"\x80\x02" and not library_refuses(path)
    with open_checkpoint(path) as reader:
        assert torch.equal(reader.read("a"), load_file(str(path))["a"])


def test_the_loader_refuses_overlapping_tensors(tiny, tmp_path):
    """Two same-sized tensors made to share bytes: before, the loader read both from the
    same place and built a model with one weight silently copied into another."""
    header, body = split(tiny / TRANSFORMER[2])
    names = [n for n in header if n != "__metadata__"]
    size = {n: header[n]["data_offsets"][1] - header[n]["data_offsets"][0] for n in names}
    first, second = next((a, b) for a in names for b in names
                         if a < b and size[a] == size[b] and header[a]["dtype"] == header[b]["dtype"])
    header[second] = {**header[second], "data_offsets": header[first]["data_offsets"]}
    path = join(tmp_path / "shared.safetensors", header, body)
    assert library_refuses(path)
    with pytest.raises(CheckpointError, match="overlaps tensor") as err:
        load_transformer(path)
    assert str(path) in str(err.value)


# --- the dry run reads every model file's header ---------------------------------------------


def test_intact_models_pass_and_say_what_they_are(models, tiny):
    """The family each file is detected as matches the kind the tiny-model writer recorded."""
    result = dry_run(models, "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    written = {entry["path"]: entry["kind"] for entry in json.loads((tiny / "manifest.json").read_text())["files"]}
    found = {(m["node"], m["input"]): m for m in report["models"]}
    for node_id, input_name, rel in (TRANSFORMER, VAE, TEXT_ENCODER):
        assert found[(node_id, input_name)]["kind"] == written[rel]


def _in_data_order(header: dict) -> list[str]:
    return sorted((n for n in header if n != "__metadata__"), key=lambda n: header[n]["data_offsets"])


def _shift_second(header: dict, body: bytes) -> tuple[dict, bytes]:
    second = _in_data_order(header)[1]
    start, end = header[second]["data_offsets"]
    return _entry(header, second, data_offsets=[start - 2, end - 2]), body


# Edits of the real tiny transformer: (header, body) -> (header or raw bytes, body), and the words.
TRANSFORMER_EDITS = {
    "truncated": (lambda h, b: (h, b[:-1]), "truncated (its header describes"),
    "cut in half": (lambda h, b: (h, b[: len(b) // 2]), "download it again"),
    "overlapping tensors": (_shift_second, "overlaps tensor"),
    "bytes after the last tensor": (lambda h, b: (h, b + bytes(8)), "after its last tensor"),
    "unknown dtype": (lambda h, b: (_entry(h, _in_data_order(h)[0], dtype="F4_E2M1"), b), "unknown dtype"),
    "shape not matching the bytes": (
        lambda h, b: (_entry(h, _in_data_order(h)[0], shape=[*h[_in_data_order(h)[0]]["shape"], 2]), b), "holds"),
    "header not JSON": (lambda h, b: (b"{" + b"#" * 40, b), "not JSON"),
}


@pytest.mark.parametrize("name", sorted(TRANSFORMER_EDITS))
def test_dry_run_refuses_a_corrupt_transformer(models, name):
    path = models / TRANSFORMER[2]
    edit, needle = TRANSFORMER_EDITS[name]
    join(path, *edit(*split(path)))
    assert library_refuses(path)
    assert_node_error(dry_run(models), TRANSFORMER, path, "bad-model-file", needle)


@pytest.mark.parametrize("prefix,needle", [("file size", "larger than the"), (2 ** 40, "over the format's limit")])
def test_dry_run_refuses_an_impossible_header_length(models, prefix, needle):
    path = models / TRANSFORMER[2]
    data = path.read_bytes()
    path.write_bytes(struct.pack("<Q", len(data) if prefix == "file size" else prefix) + data[8:])
    assert library_refuses(path)
    assert_node_error(dry_run(models), TRANSFORMER, path, "bad-model-file", needle)


def test_every_broken_file_is_listed_at_once(models):
    """A cut VAE and a cut text encoder: both reported in one go, each with its node."""
    for _, _, rel in (VAE, TEXT_ENCODER):
        path = models / rel
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    result = dry_run(models)
    assert_node_error(result, VAE, models / VAE[2], "truncated")
    assert_node_error(result, TEXT_ENCODER, models / TEXT_ENCODER[2], "truncated")
    assert "2 problem(s)" in result.output


def test_wrong_family_is_named_before_loading(models, tiny):
    (models / TRANSFORMER[2]).write_bytes((tiny / VAE[2]).read_bytes())
    assert_node_error(dry_run(models), TRANSFORMER, models / TRANSFORMER[2], "wrong-model",
                      "this is a Wan VAE, not a Wan transformer", "belongs in models/vae")


def test_a_file_of_no_known_family_is_named(models):
    path = models / TRANSFORMER[2]
    save_file({"first_stage_model.weight": torch.zeros(2, 2)}, str(path))
    assert_node_error(dry_run(models), TRANSFORMER, path, "wrong-model", "not a model file wfrun recognises",
                      "first_stage_model.weight")


def test_a_file_its_loader_cannot_load_is_refused_in_the_dry_run(models):
    """A Wan transformer in diffusers' own layout: the right family, but not loadable from one file."""
    path = models / TRANSFORMER[2]
    save_file({"condition_embedder.time_proj.weight": torch.zeros(2, 2)}, str(path))
    assert_node_error(dry_run(models), TRANSFORMER, path, "bad-model-file", "diffusers-format file")


def test_a_tensor_wfrun_cannot_read_is_named(models):
    path = models / TRANSFORMER[2]
    tensors = load_file(str(path))
    with safe_open(str(path), "pt") as handle:
        metadata = handle.metadata()
    tensors["blocks.0.packed_u16"] = torch.zeros(4, dtype=torch.uint16)
    save_file(tensors, str(path), metadata=metadata)
    assert not library_refuses(path)  # a valid file, only not one wfrun can use
    assert_node_error(dry_run(models), TRANSFORMER, path, "blocks.0.packed_u16", "U16", "cannot read")


# --- pickles ------------------------------------------------------------------------------------


class Payload:
    """Stands for the code a malicious pickle would run."""

    def __reduce__(self):
        return (print, ("this must never run",))


def test_a_pickle_is_refused_without_opt_in(models, tiny):
    torch.save(load_file(str(tiny / VAE[2])), models / "vae" / "vae.pt")
    result = dry_run(models, "--set", "38.model_name=vae.pt")
    assert_node_error(result, VAE, models / "vae" / "vae.pt", "bad-model-file", "pickle", "--allow-pickle")


def test_a_pickle_renamed_safetensors_is_still_a_pickle(models, tiny):
    path = models / VAE[2]
    torch.save(load_file(str(tiny / VAE[2])), path)  # a zip archive under the .safetensors name
    assert library_refuses(path)
    assert_node_error(dry_run(models), VAE, path, "bad-model-file", "Python pickle", "zip archive",
                      "--allow-pickle")


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_opted_in_pickles_are_read_weights_only(models, tiny, how):
    torch.save(load_file(str(tiny / VAE[2])), models / "vae" / "vae.pt")
    extra = ["--allow-pickle"] if how == "flag" else []
    env = {"WFRUN_ALLOW_PICKLE": "1"} if how == "environment" else None
    result = dry_run(models, "--set", "38.model_name=vae.pt", "--format", "json", *extra, env=env)
    assert result.exit_code == 0, result.output
    vae = next(m for m in json.loads(result.stdout)["models"] if m["node"] == VAE[0])
    assert vae["kind"] == "wan_vae" and vae["path"] == str(models / "vae" / "vae.pt")


def test_the_run_wide_opt_in_reaches_readers_called_without_it(tiny, tmp_path):
    """Node executors call the loaders without ``allow_pickle`` (they pass ``None`` down to
    ``open_checkpoint``); ``wfrun run --allow-pickle`` wraps the run in
    ``pickle_files_allowed``, and only inside it are pickles read, weights only."""
    from wfrun.models.detect import detect
    from wfrun.models.reader import PickleRefused, pickle_files_allowed

    path = tmp_path / "vae.pt"
    reference = load_file(str(tiny / VAE[2]))
    torch.save(reference, path)
    with pytest.raises(PickleRefused):
        detect(path)
    with pickle_files_allowed():
        assert detect(path).kind == "wan_vae"
        with open_checkpoint(path) as reader:
            assert all(torch.equal(reader.read(name), tensor) for name, tensor in reference.items())
    with pytest.raises(PickleRefused):
        open_checkpoint(path)


def test_opted_in_pickles_still_run_no_code(models, capfd):
    path = models / "vae" / "evil.pt"
    torch.save({"decoder.conv1.weight": torch.zeros(1), "payload": Payload()}, path)
    result = dry_run(models, "--set", "38.model_name=evil.pt", "--allow-pickle")
    assert_node_error(result, VAE, path, "weights-only")
    assert "must never run" not in result.output + capfd.readouterr().out


# --- extra_model_paths.yaml ---------------------------------------------------------------------


def billion_laughs(levels: int = 10, fan: int = 9) -> str:
    """Each level a list of ``fan`` aliases to the one before: fan**levels strings in all."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * fan) + "]")
    lines.append(f"vae: *l{levels - 1}")
    return "\n".join(lines) + "\n"


NOT_UTF8 = "wan:\n  vae: café\n".encode("latin-1")

YAML_CASES = {
    "malformed": (b"a:\n  vae: [unclosed\n", "not valid YAML at line 3"),
    "tab indentation": (b"a:\n\tvae: v\n", "not valid YAML at line 2"),
    "top level a list": (b"- models\n- more\n", "expected named sections (a mapping) at the top level, found a list"),
    "section a number": (b"wan:\n  vae: v\nold: 5\n", "line 3: 'old' is a number (5)"),
    "base_path a number": (b"wan:\n  base_path: 2024\n  vae: v\n", "line 2: base_path of 'wan' is a number (2024)"),
    "is_default text": (b"wan:\n  is_default: maybe\n", "line 2: is_default of 'wan' is text ('maybe')"),
    "folder a mapping": (b"wan:\n  vae:\n    x: 1\n", "line 2: 'vae' in 'wan' is a mapping"),
    "folder list with a number": (b"wan:\n  vae: [a, 7]\n", "item 2 is a number (7)"),
    "folder name a number": (b"wan:\n  3: v\n", "line 2: a folder name in 'wan' is a number (3)"),
    "not UTF-8": (NOT_UTF8, f"not UTF-8 text (byte {NOT_UTF8.index(0xE9)} on line 2)"),
    "alias bomb": (billion_laughs().encode(), f"expand to more than {MAX_YAML_VALUES:,} values"),
    "alias loop": (b"a: &a\n  vae: [*a]\n", "used inside the node it names"),
    "deep nesting": (b"vae: " + b"[" * 500 + b"]" * 500 + b"\n", "nested deeper than"),
    "too large": (b"# padding\n" * (MAX_YAML_BYTES // 10 + 1), "larger than"),
    "python tag": (b"a: !!python/object/apply:os.system ['true']\n", "not valid YAML at line 1"),
}


@pytest.mark.parametrize("name", sorted(YAML_CASES))
def test_bad_extra_model_paths_yaml_is_a_usage_error(models, name):
    content, needle = YAML_CASES[name]
    yaml_file = models / "extra_model_paths.yaml"
    yaml_file.write_bytes(content)
    for result in (dry_run(models), invoke("validate", "--models", str(models), str(WORKFLOW))):
        assert_clean_error(result, 2, str(yaml_file), needle)


def test_the_bomb_is_far_above_the_bound_and_fair_aliases_still_work(models, tiny, tmp_path):
    """The bound sits between real use and the bomb: 9**10 strings would be ~3.5e9 values; a
    file sharing one base_path through a merge key (a real use of aliases) reads as usual."""
    assert 9 ** 10 > 1000 * MAX_YAML_VALUES
    elsewhere = tmp_path / "disk"
    (elsewhere / "vae").mkdir(parents=True)
    shutil.move(str(models / VAE[2]), elsewhere / "vae" / Path(VAE[2]).name)
    (models / "extra_model_paths.yaml").write_text(
        f"common: &common\n  base_path: {elsewhere}\nwan:\n  <<: *common\n  vae: vae\n")
    result = dry_run(models, "--format", "json")
    assert result.exit_code == 0, result.output
    vae = next(m for m in json.loads(result.stdout)["models"] if m["node"] == VAE[0])
    assert vae["path"] == str(elsewhere / "vae" / Path(VAE[2]).name)


# --- wfrun specs extract: bad arguments ---------------------------------------------------------


@pytest.fixture(scope="module")
def pack_repo(tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("pack")
    (repo / "nodes.py").write_text('NODE_CLASS_MAPPINGS = {}\n')
    env = {"GIT_AUTHOR_DATE": "2025-01-02T00:00:00", "GIT_COMMITTER_DATE": "2025-01-02T00:00:00"}
    for args in (["init", "-q"], ["add", "nodes.py"],
                 ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one"]):
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                       env={**os.environ, **env})
    return repo


@pytest.mark.parametrize("args,needle", [
    (["--rev", "no-such-branch"], "--rev 'no-such-branch': names no commit"),
    (["--rev", "--output=x"], "--rev '--output=x': not a revision"),
    (["--since", "yesterday"], "--since 'yesterday': not a date (YYYY-MM-DD) or a commit id"),
    (["--until", "2024-02-30"], "--until '2024-02-30': not a date"),
    (["--since", "deadbeef"], "--since 'deadbeef': no such commit"),
    (["--until", "2020-01-01"], "--until '2020-01-01': no commit in that range"),
    (["--since", "2030-01-01"], "--since '2030-01-01': no commit in that range"),
])
def test_extract_bad_arguments_are_usage_errors(pack_repo, tmp_path, args, needle):
    out = tmp_path / "specs.json"
    result = invoke("specs", "extract", str(pack_repo), "--pack", "p", "-o", str(out), *args)
    assert_clean_error(result, 2, needle)
    assert not out.exists()


def test_extract_from_a_folder_that_is_no_repository(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    result = invoke("specs", "extract", str(plain), "--pack", "p", "-o", str(tmp_path / "o.json"))
    assert_clean_error(result, 2, str(plain), "not a git repository")


def test_extract_good_arguments_still_work(pack_repo, tmp_path):
    """Control for the cases above: the same repository with valid bounds extracts."""
    out = tmp_path / "specs.json"
    result = invoke("specs", "extract", str(pack_repo), "--pack", "p", "-o", str(out),
                    "--since", "2025-01-01", "--until", "2025-01-03")
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["source"]["commits_walked"] == 1
