"""``wfrun migrate`` on the command line: outputs, --check, --in-place, --diff, --format."""

from __future__ import annotations

import json
import shutil

from click.testing import CliRunner

from conftest import CORPUS
from wfrun.cli import main

OLD = CORPUS / "wanvideowrapper" / "2025-03-28_6334dfa_wanvideo_Fun_control_example_01.json"


def _run(*args):
    return CliRunner().invoke(main, ["migrate", *map(str, args)])


def test_prints_the_migrated_file_to_stdout_and_never_touches_the_input(tmp_path):
    path = tmp_path / "old.json"
    shutil.copy(OLD, path)
    before = path.read_bytes()
    result = _run(path)
    assert result.exit_code == 0
    migrated = json.loads(result.stdout)
    assert migrated["nodes"] and path.read_bytes() == before
    assert "node(s) migrated" in result.stderr


def test_check_exits_1_when_needed_and_0_after_in_place(tmp_path):
    path = tmp_path / "old.json"
    shutil.copy(OLD, path)
    assert _run(path, "--check").exit_code == 1
    result = _run(path, "--in-place")
    assert result.exit_code == 0
    assert (tmp_path / "old.json.bak").read_bytes() == OLD.read_bytes()
    assert _run(path, "--check").exit_code == 0
    assert "nothing to migrate" in _run(path, "--check").stdout


def test_in_place_without_backup_and_output_file(tmp_path):
    path = tmp_path / "old.json"
    shutil.copy(OLD, path)
    assert _run(path, "--in-place", "--no-backup").exit_code == 0
    assert not (tmp_path / "old.json.bak").exists()
    out = tmp_path / "new.json"
    assert _run(OLD, "-o", out).exit_code == 0
    assert json.loads(out.read_text()) == json.loads(path.read_text())
    assert _run(OLD, "-o", out).exit_code == 2  # never overwrites an existing file
    assert _run(OLD, "-o", tmp_path / "x.json", "--in-place").exit_code == 2


def test_diff_and_json_report():
    result = _run(OLD, "--diff", "--check")
    assert result.exit_code == 1
    assert result.stdout.startswith("---") and "+++" in result.stdout
    report = json.loads(_run(OLD, "--check", "--format", "json").stdout)
    assert report["changed"] is True
    encode = next(n for n in report["nodes"] if n["class_type"] == "WanVideoImageToVideoEncode")
    assert encode["saved"]["commit"] and encode["saved"]["date"]
    assert "0007_imagetovideo_fun_model_renamed" in encode["rules"]


def test_not_a_workflow_exits_1(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    assert _run(bad).exit_code == 1
