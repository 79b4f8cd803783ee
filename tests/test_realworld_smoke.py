"""How many of the real workflows by other people (``../shared/corpus/realworld``) run end
to end with ``wfrun run F --smoke``: the count may only grow (issue 15's floor). Files
wfrun cannot run yet are refused before anything loads, so the whole sweep is quick."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from wfrun.cli import main

REALWORLD = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "realworld"
#: The files that ran at the last count (2026-12-02, session 10: 27 of 31); each must keep running.
RUNNING = {"012_Hearmeman24_hm-wrapper-i2v-upscale", "013_Hearmeman24_hm-native-i2v-upscale",
           "014_Hearmeman24_hm-startend", "015_Hearmeman24_hm-native-funcontrol",
           "016_Hearmeman24_hm-vace-outpaint", "018_Hearmeman24_hm-selfforcing-i2v",
           "019_Hearmeman24_hm-wan22-i2v", "021_Hearmeman24_hm-animate-replace",
           "022_Hearmeman24_hm-video-extend", "023_Hearmeman24_hm-wan22-5b-i2v",
           "024_cseti007_cseti-wan22-t2v", "025_cseti007_walgro-vace", "026_cseti007_nfjinx-wan22-gguf",
           "027_cseti007_cseti-wan22-upscale", "028_cseti007_cseti-vace-endless",
           "029_jalberty2018_jalb-wrapper-i2v-moe", "030_jalberty2018_jalb-wrapper-longvideo",
           "031_jalberty2018_jalb-wrapper-t2v-triple",
           "032_jalberty2018_jalb-wrapper-svi", "034_jalberty2018_jalb-wan21-t2v",
           "035_jalberty2018_jalb-wan22-moe-teacache", "036_jalberty2018_jalb-animate",
           "052_raindrop313_raindrop-startend", "054_s1ntecs_s1ntecs-t2v-lora",
           "055_sirdrafton_sirdrafton-api-i2v", "056_kairusann_kairusann-i2v-720p",
           "057_ritikvirus_ritik-wan22-i2v"}


FILES = sorted(REALWORLD.glob("0*.json"))


def test_the_folder_is_there():
    assert len(FILES) >= 30


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One stand-in cache per worker process: tiny models written once, reused by the files."""
    return tmp_path_factory.mktemp("standins")


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_realworld_file_runs_or_is_refused_cleanly(path, tmp_path, cache):
    """One file per test, so that parallel workers share the sweep: a file of the floor
    runs end to end and writes its outputs; any other is refused with a clear message (or
    runs: the floor may grow)."""
    result = CliRunner().invoke(main, ["run", str(path), "--smoke", "--device", "cpu", "--format", "json",
                                       "-o", str(tmp_path / path.stem)], env={"WFRUN_CACHE": str(cache)})
    if result.exit_code == 0:
        assert json.loads(result.stdout)["written"], path.name  # ran end to end: it wrote its video or images
        return
    assert result.exit_code in (1, 2) and "Traceback" not in result.output, (path.name, result.output[-800:])
    assert path.stem not in RUNNING, (path.name, result.output[-800:])


def test_every_file_of_the_floor_is_in_the_folder():
    assert RUNNING <= {p.stem for p in FILES}
