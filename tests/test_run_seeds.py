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
