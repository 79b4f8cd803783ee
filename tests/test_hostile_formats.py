"""Hostile workflow files end in a clear error in every command: exit 1 (the file) or 2
(this machine), a message naming the file and the problem, never a traceback.

Workflows are untrusted internet files. Each case here broke a command before (a
``UnicodeDecodeError`` in ``run``, a ``RecursionError``, the int-string limit's
``ValueError``, ``Infinity`` written into converted JSON) or could (a huge file read into
memory, a top-level value that is not an object).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from wfrun.cli import main
from wfrun.formats import FormatError, dumps, load
from wfrun.formats.jsontext import MAX_DEPTH, MAX_JSON_BYTES

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "workflows" / "wan_t2v_tiny.json"
DEMO_TEXT = DEMO.read_text(encoding="utf-8")

COMMANDS = (["validate"], ["graph"], ["convert", "--to", "api"], ["migrate"], ["run", "--dry-run"])


def cli(*args: object):
    """Invoke the CLI in-process; a Python exception (a traceback for a user) fails the test."""
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result


def in_every_command(path: Path, *needles: str, code: int = 1) -> None:
    for command in COMMANDS:
        result = cli(command[0], path, *command[1:])
        assert result.exit_code == code, (command, result.output)
        assert str(path) in result.output, (command, result.output)
        for needle in needles:
            assert needle in result.output, (command, needle, result.output)


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


# ---------------------------------------------------------------------------- encodings

def test_not_utf8_names_the_byte_and_its_place(tmp_path):
    text = DEMO_TEXT.replace('"revision": 0,', '"revision": 0, "note": "caf\u00e9",', 1)
    assert "\u00e9" in text
    raw = text.encode("utf-8").replace("\u00e9".encode("utf-8"), b"\xe9")  # é as a Windows-1252 editor saves it
    offset = raw.index(b"\xe9")
    line = raw.count(b"\n", 0, offset) + 1
    column = offset - raw.rfind(b"\n", 0, offset)
    path = write(tmp_path, "latin1.json", raw)
    in_every_command(path, "not UTF-8", "0xe9", f"line {line}, column {column}")


def test_utf8_bom_is_accepted_everywhere(tmp_path, tiny_models):
    path = write(tmp_path, "bom.json", b"\xef\xbb\xbf" + DEMO_TEXT.encode("utf-8"))
    assert load(path).dump() == json.loads(DEMO_TEXT)
    assert cli("validate", path).exit_code == cli("validate", DEMO).exit_code
    assert cli("convert", path, "--to", "api").stdout == cli("convert", DEMO, "--to", "api").stdout
    assert cli("run", path, "--models", tiny_models, "--dry-run").exit_code == 0


def test_utf16_is_named(tmp_path):
    in_every_command(write(tmp_path, "utf16.json", DEMO_TEXT.encode("utf-16")), "UTF-16", "UTF-8")


def test_a_binary_file_is_not_called_bad_json(tmp_path):
    in_every_command(write(tmp_path, "archive.json", b"PK\x03\x04\x14\x00\x00\x00\x08\x00"), "not a workflow file",
                     "50 4b 03 04")


# ---------------------------------------------------------------------------- structure

@pytest.mark.parametrize("depth", [50_000, MAX_DEPTH + 1])
def test_deep_nesting_is_capped(tmp_path, depth):
    text = '{"nodes": [], "links": [], "extra": ' + "[" * depth + "]" * depth + "}"
    in_every_command(write(tmp_path, "deep.json", text), f"more than {MAX_DEPTH} levels deep")
    assert "error[too-deep]" in cli("validate", tmp_path / "deep.json").output


def test_nesting_at_the_cap_is_read(tmp_path):
    inner = MAX_DEPTH - 2  # the top-level object and the "extra" object count too
    text = '{"nodes": [], "links": [], "extra": {"x": ' + "[" * inner + "]" * inner + "}}"
    assert load(write(tmp_path, "ok.json", text)).kind == "ui"


@pytest.mark.parametrize("name,text,shown", [
    ("list.json", "[1, 2]", "found an array at the top level"),
    ("string.json", '"a workflow"', "found a string at the top level"),
    ("number.json", "42", "found a number at the top level"),
    ("null.json", "null", "found null at the top level"),
    ("object.json", '{"hello": 1}', "found an object with keys 'hello' at the top level"),
])
def test_top_level_value_not_a_workflow_object(tmp_path, name, text, shown):
    in_every_command(write(tmp_path, name, text), "not a ComfyUI workflow", shown)


def test_api_prompt_with_entries_that_are_not_nodes_names_them(tmp_path):
    text = ('{"_meta": {"description": "a note"}, "1": {"class_type": "PrimitiveInt", "inputs": {"value": 1}}, '
            '"notes": "x"}')
    in_every_command(write(tmp_path, "meta.json", text), "an API prompt of 1 node(s), but 2 of its entries are not "
                     "nodes (no 'class_type'): '_meta', 'notes'", "remove those entries")


@pytest.mark.parametrize("text", ["", " \n\t\n"])
def test_empty_file(tmp_path, text):
    in_every_command(write(tmp_path, "empty.json", text), "is empty")


def test_file_over_the_size_limit_is_refused_before_reading(tmp_path):
    path = tmp_path / "huge.json"
    with open(path, "wb") as handle:  # sparse: no disk used; all NUL bytes, which are not JSON either
        handle.truncate(MAX_JSON_BYTES + 1)
    in_every_command(path, f"over wfrun's limit of {MAX_JSON_BYTES // 2**20} MiB")
    assert "error[too-large]" in cli("validate", path).output


# ---------------------------------------------------------------------------- numbers

def test_integer_of_5000_digits(tmp_path):
    text = '{"nodes": [],\n "links": [], "extra": {"seed": ' + "9" * 5000 + "}}"
    path = write(tmp_path, "bigint.json", text)
    in_every_command(path, "integer of 5000 digits", ":2:")
    assert "error[bad-number]" in cli("validate", path).output


def test_integer_beyond_a_double_but_under_pythons_limit(tmp_path):
    digits = len(str(2**1024))  # the first integer no JavaScript reader can hold
    path = write(tmp_path, "big.json", '{"nodes": [], "links": [], "extra": {"seed": ' + str(2**1024) + "}}")
    in_every_command(path, f"integer of {digits} digits")
    assert load(write(tmp_path, "ok.json", '{"nodes": [], "links": [], "extra": {"seed": 18446744073709551615}}'))


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999", "-2.5E+400"])
def test_non_finite_numbers_are_refused_with_their_place(tmp_path, literal):
    text = '{"nodes": [],\n  "links": [],\n  "extra": {"note": "NaN in a string is fine", "x": ' + literal + "}}"
    path = write(tmp_path, "nan.json", text)
    column = text.splitlines()[2].rindex(literal) + 1
    in_every_command(path, literal, f":3:{column}")
    assert "error[bad-number]" in cli("validate", path).output


def test_convert_never_writes_nan_or_infinity(tmp_path):
    nan_file = write(tmp_path, "nan.json", DEMO_TEXT.replace('"links"', '"extra_value": NaN, "links"', 1))
    out = tmp_path / "out.json"
    assert cli("convert", nan_file, "--to", "api", "-o", out).exit_code == 1
    assert not out.exists()
    with pytest.raises(FormatError) as err:
        dumps({"cfg": math.inf})
    assert err.value.problems[0].code == "bad-number"
    converted = cli("convert", DEMO, "--to", "api").stdout
    json.loads(converted, parse_constant=lambda c: pytest.fail(f"{c} written"))


# ---------------------------------------------------------------------------- the machine, not the file

def test_missing_ffmpeg_for_a_video_is_a_usage_error(tmp_path, monkeypatch):
    video = write(tmp_path, "clip.mp4", b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2")
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(tmp_path / "no-ffmpeg-here"))
    in_every_command(video, "needs ffmpeg", "IMAGEIO_FFMPEG_EXE", code=2)
