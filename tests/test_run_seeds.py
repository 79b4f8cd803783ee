"""``wfrun run --seeds``: one run per seed with each model loaded once, the same frames as
separate runs, and a contact sheet with a row per seed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from wfrun.cli import main
from wfrun.jobs.run import JobError
from wfrun.jobs.seeds import parse_seeds
from wfrun.media.contact_sheet import GAP, THUMB_HEIGHT
from wfrun.media.video import iter_frames

WORKFLOW = Path(__file__).resolve().parents[1] / "workflows" / "wan_t2v_tiny.json"


def _run(args: list[str], cache: Path):
    return CliRunner().invoke(main, ["run", str(WORKFLOW), "--smoke", "--device", "cpu", "--format", "json", *args],
                              env={"WFRUN_CACHE": str(cache)})


def _frames(path: str) -> list:
    return [f.tobytes() for f in iter_frames(path)]


def test_seeds_share_loads_and_match_separate_runs(tmp_path):
    cache = tmp_path / "cache"
    swept = _run(["--seeds", "3-4", "-o", str(tmp_path / "sweep")], cache)
    assert swept.exit_code == 0, swept.output
    report = json.loads(swept.stdout)
    first, second = report["seeds"]["3"], report["seeds"]["4"]
    assert not first["cached"]  # the first seed runs every node
    types = {n["id"]: n["type"] for n in second["plan"]["order"]}
    # the second seed reuses the loads and runs the sampler (and what follows) again
    assert {"WanVideoModelLoader", "WanVideoVAELoader"} <= {types[n] for n in second["cached"]}
    assert "WanVideoSampler" in {types[n] for n in second["executed"]}
    # each seed reports its own sampler steps (one bar of the smoke run's 2 steps), not the runs' before it
    assert [len(bar) for bar in first["step_seconds"]] == [len(bar) for bar in second["step_seconds"]] == [2]
    # each seed's video equals the one a separate run with that seed writes
    single = _run(["--seed", "4", "-o", str(tmp_path / "single")], cache)
    assert single.exit_code == 0, single.output
    alone = [p for p in json.loads(single.stdout)["written"] if p.endswith(".mp4")]
    swept_4 = [p for p in second["written"] if p.endswith(".mp4")]
    swept_3 = [p for p in first["written"] if p.endswith(".mp4")]
    assert _frames(swept_4[0]) == _frames(alone[0])
    assert _frames(swept_3[0]) != _frames(swept_4[0])  # the seed reached the sampler
    sheet = Image.open(report["contact_sheet"])
    assert sheet.height == 2 * (THUMB_HEIGHT + GAP)  # a row per seed


def test_seed_lists_are_parsed_and_bad_ones_refused():
    assert parse_seeds("1-3,7,2") == [1, 2, 3, 7]
    for bad in ("x", "5-2", "1-100000", ""):
        with pytest.raises(JobError):
            parse_seeds(bad)


def test_seeds_and_seed_together_are_a_usage_error(tmp_path):
    result = _run(["--seeds", "1-2", "--seed", "5", "-o", str(tmp_path / "o")], tmp_path / "cache")
    assert result.exit_code == 2 and "--seeds" in result.output


def test_vary_runs_each_value_with_one_load_and_matches_separate_runs(tmp_path):
    """``--vary NODE.INPUT=a,b`` is a run per value sharing the loads, each equal to a
    separate ``--set`` run; two files in one call share what they have in common."""
    cache = tmp_path / "cache"
    data = json.loads(WORKFLOW.read_text())
    sampler = next(n for n in data["nodes"] if n["type"] == "WanVideoSampler")
    swept = _run(["--vary", f"{sampler['id']}.cfg=3.0,7.5", "--seeds", "5", "-o", str(tmp_path / "v")], cache)
    assert swept.exit_code == 0, swept.output
    runs = json.loads(swept.stdout)["runs"]
    assert [r["label"] for r in runs] == [f"{sampler['id']}.cfg=3.0, seed 5", f"{sampler['id']}.cfg=7.5, seed 5"]
    types = {n["id"]: n["type"] for n in runs[1]["plan"]["order"]}
    assert "WanVideoModelLoader" in {types[n] for n in runs[1]["cached"]}
    single = _run(["--set", f"{sampler['id']}.cfg=7.5", "--seed", "5", "-o", str(tmp_path / "s")], cache)
    assert single.exit_code == 0, single.output
    video = lambda written: next(p for p in written if p.endswith(".mp4"))  # noqa: E731
    assert _frames(video(runs[1]["written"])) == _frames(video(json.loads(single.stdout)["written"]))
    assert _frames(video(runs[0]["written"])) != _frames(video(runs[1]["written"]))
    assert Image.open(json.loads(swept.stdout)["contact_sheet"]).height == 2 * (THUMB_HEIGHT + GAP)

    copy = tmp_path / "again.json"
    copy.write_text(WORKFLOW.read_text())
    both = CliRunner().invoke(main, ["run", str(WORKFLOW), str(copy), "--smoke", "--device", "cpu", "--format", "json",
                                     "-o", str(tmp_path / "two")], env={"WFRUN_CACHE": str(cache)})
    assert both.exit_code == 0, both.output
    second = json.loads(both.stdout)["runs"][1]
    assert second["label"] == "again" and second["cached"]  # the same loaders: served from the first file's run


def test_vary_values_are_parsed_and_bad_ones_refused():
    from wfrun.jobs.seeds import batch_runs, parse_vary

    assert parse_vary("Sampler.cfg=4, 5,6") == ("Sampler.cfg", ["4", "5", "6"])
    assert parse_vary("3.text=a\\, b,c") == ("3.text", ["a, b", "c"])
    for bad in ("cfg=4", "3.cfg", "3.cfg=", "3.cfg=4,,5"):
        with pytest.raises(JobError):
            parse_vary(bad)
    runs = batch_runs(["a.json"], [1, 2], ["3.cfg=4,5", "3.shift=8"])
    assert [r.label for r in runs] == ["3.cfg=4, 3.shift=8, seed 1", "3.cfg=4, 3.shift=8, seed 2",
                                       "3.cfg=5, 3.shift=8, seed 1", "3.cfg=5, 3.shift=8, seed 2"]
    assert runs[2].sets == ("3.cfg=5", "3.shift=8")
    with pytest.raises(JobError):
        batch_runs(["a.json"], list(range(600)), ["3.cfg=1,2"])
