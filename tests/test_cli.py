"""The command line as users meet it: README commands, exit codes, output formats."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from wfrun.cli import main
from wfrun.formats.document import load
from wfrun.graph import build

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus" / "wanvideowrapper"
DEMO = ROOT / "workflows" / "wan_t2v_tiny.json"


def readme_commands() -> list[str]:
    """The shell commands of the README's 'On a fresh machine' section, in order."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## On a fresh machine", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", section, re.S)]


def test_readme_has_exactly_two_setup_commands():
    commands = readme_commands()
    assert len(commands) == 2, commands
    assert commands[1] == "python3 -m pytest -n auto"
    assert "pip install" in commands[0] and "wfrun " in commands[0]


def test_readme_main_command_runs(tmp_path):
    """Run the README's main command after its install step (the package is installed).

    It runs as ``python -m wfrun`` (no reliance on PATH) from a folder in tmp_path, with the
    checkout's files named by absolute path and the cache (``WFRUN_CACHE``) in tmp_path, so
    the output and the tiny models land there and the checkout stays clean."""
    install_and_run = readme_commands()[0]
    steps = [s.strip() for s in install_and_run.split("&&")]
    wfrun_steps = [s for s in steps if s.startswith("wfrun ")]
    assert wfrun_steps, install_and_run
    env = dict(os.environ, WFRUN_CACHE=str(tmp_path / "cache"))
    for step in wfrun_steps:
        args = [str(ROOT / a) if (ROOT / a).is_file() else a for a in shlex.split(step)[1:]]
        done = subprocess.run([sys.executable, "-m", "wfrun", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{step}\n{done.stdout}\n{done.stderr}"
    promised = re.search(r"writes (output/\S+?\.mp4)", (ROOT / "README.md").read_text(encoding="utf-8"))
    assert promised and (tmp_path / promised.group(1)).is_file(), sorted(tmp_path.rglob("*"))


def test_ci_script_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert readme_commands()[1] in ci


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_validate_clean_file_exits_0():
    result = invoke("validate", str(DEMO))
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith(": ok")


def broken_copy(tmp_path: Path) -> Path:
    """The demo with num_frames 16 (not 4n+1) and a combo value that does not exist."""
    data = json.loads(DEMO.read_text(encoding="utf-8"))
    for node in data["nodes"]:
        if node["type"] == "WanVideoEmptyEmbeds":
            node["widgets_values"][2] = 16
        if node["type"] == "WanVideoSampler":
            node["widgets_values"][6] = "unipcc"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_validate_problems_exit_1_and_name_node_title_input(tmp_path):
    result = invoke("validate", str(broken_copy(tmp_path)))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    frames = next(line for line in lines if "frame-count" in line)
    assert "node 37 'WanVideo Empty Embeds' (WanVideoEmptyEmbeds), input 'num_frames'" in frames
    combo = next(line for line in lines if "combo-value" in line)
    assert "input 'scheduler'" in combo
    assert "unipc" in result.output.split("combo-value", 1)[1]  # closest option suggested


def test_validate_json_format(tmp_path):
    result = invoke("validate", str(broken_copy(tmp_path)), str(DEMO), "--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    first, second = report["files"]
    assert not first["ok"] and second["ok"]
    codes = {d["code"] for d in first["diagnostics"]}
    assert {"frame-count", "combo-value"} <= codes
    frame = next(d for d in first["diagnostics"] if d["code"] == "frame-count")
    assert frame["node_id"] == "37" and frame["input"] == "num_frames" and frame["found"] == 16


def test_validate_github_format(tmp_path):
    result = invoke("validate", str(broken_copy(tmp_path)), "--format", "github")
    assert result.exit_code == 1
    annotations = [line for line in result.output.splitlines() if line.startswith("::")]
    assert annotations and all(line.startswith(("::error ", "::warning ")) for line in annotations)
    assert any("file=" in line and "num_frames" in line for line in annotations)


def test_strict_turns_warnings_into_failure():
    old_teacache = CORPUS / "2025-03-07_f3d58dc_wanvideo_T2V_example_02.json"
    relaxed = invoke("validate", str(old_teacache))
    strict = invoke("validate", str(old_teacache), "--strict")
    assert "warning" in relaxed.output
    assert relaxed.exit_code == 0 and strict.exit_code == 1


def test_usage_errors_exit_2(tmp_path):
    assert invoke("validate", str(tmp_path / "missing.json")).exit_code == 2
    assert invoke("validate", str(DEMO), "--models", str(tmp_path / "nowhere")).exit_code == 2
    assert invoke("validate").exit_code == 2
    assert invoke("frobnicate").exit_code == 2


def test_invalid_json_names_line_and_column(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"nodes": [\n  {"id": 1,,}\n]}', encoding="utf-8")
    result = invoke("validate", str(bad))
    assert result.exit_code == 1
    assert "bad.json:2:12: error[invalid-json]" in result.output


def test_missing_models_with_models_dir(tmp_path):
    (tmp_path / "vae").mkdir()
    result = invoke("validate", str(DEMO), "--models", str(tmp_path))
    assert result.exit_code == 1
    assert "missing-model" in result.output
    assert "Wan2_1-T2V-1_3B_tiny_bf16.safetensors" in result.output


def test_validate_prints_one_result_per_file():
    files = sorted(CORPUS.glob("2025-0[67]*.json"))
    result = invoke("validate", *map(str, files))
    summary = [line for line in result.output.splitlines()
               if re.match(r".*\.json: (ok|\d+ error\(s\), \d+ warning\(s\))$", line)]
    assert len(summary) == len(files)
    with_errors = sum(1 for line in summary if re.search(r": [1-9]\d* error", line))
    assert result.output.splitlines()[-1] == f"{len(files)} file(s) checked, {with_errors} with errors"


def test_graph_formats():
    text = invoke("graph", str(DEMO))
    assert text.exit_code == 0
    order = re.findall(r"^\s*\d+\. \[(\d+)\] (\w+)", text.output, re.M)
    names = [t for _, t in order]
    assert names.index("WanVideoSampler") > names.index("WanVideoModelLoader")
    assert names[-1] == "VHS_VideoCombine"
    dot = invoke("graph", str(DEMO), "--format", "dot")
    assert dot.output.startswith("digraph") and '"27" -> "28"' in dot.output
    as_json = json.loads(invoke("graph", str(DEMO), "--format", "json").output)
    assert {n["id"] for n in as_json["nodes"]} == {i for i, _ in order}


def test_convert_to_api_round_trips_through_build(tmp_path):
    out = tmp_path / "prompt.json"
    result = invoke("convert", str(DEMO), "--to", "api", "-o", str(out))
    assert result.exit_code == 0, result.output
    prompt = json.loads(out.read_text(encoding="utf-8"))
    assert prompt["27"]["class_type"] == "WanVideoSampler"
    assert prompt["27"]["inputs"]["model"] == ["22", 0]
    assert prompt["27"]["inputs"]["steps"] == 8
    from_ui, from_api = build(load(DEMO)), build(load(out))
    assert list(from_ui.order()) == list(from_api.order())
    for node_id in from_ui.order():
        a, b = from_ui.node(node_id), from_api.node(node_id)
        assert a.class_type == b.class_type and a.inputs == b.inputs, node_id
    # never overwrites
    assert invoke("convert", str(DEMO), "--to", "api", "-o", str(out)).exit_code == 2


def test_entry_point_is_installed():
    from importlib.metadata import entry_points

    import wfrun.__main__

    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "wfrun"]
    assert script.load() is wfrun.__main__.main
    done = subprocess.run([sys.executable, "-m", "wfrun", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and "wfrun" in done.stdout


def test_python_m_wfrun_runs_the_cli(tmp_path):
    done = subprocess.run([sys.executable, "-m", "wfrun", "validate", str(DEMO)], capture_output=True,
                          text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{DEMO}: ok"
