"""How many of the real workflows by other people (``../shared/corpus/realworld``) run end
to end with ``wfrun run F --smoke``: the count may only grow (issue 15's floor). Files
wfrun cannot run yet are refused before anything loads, so the whole sweep is quick."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from wfrun.cli import main

REALWORLD = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "realworld"
#: The files that ran at the last count (2026-12-02, session 9: 24 of 31); each must keep running.
RUNNING = {"012_Hearmeman24_hm-wrapper-i2v-upscale", "013_Hearmeman24_hm-native-i2v-upscale",
           "014_Hearmeman24_hm-startend", "015_Hearmeman24_hm-native-funcontrol",
           "016_Hearmeman24_hm-vace-outpaint", "018_Hearmeman24_hm-selfforcing-i2v",
           "019_Hearmeman24_hm-wan22-i2v", "021_Hearmeman24_hm-animate-replace",
           "022_Hearmeman24_hm-video-extend", "023_Hearmeman24_hm-wan22-5b-i2v",
           "024_cseti007_cseti-wan22-t2v", "025_cseti007_walgro-vace", "026_cseti007_nfjinx-wan22-gguf",
           "027_cseti007_cseti-wan22-upscale", "029_jalberty2018_jalb-wrapper-i2v-moe",
           "031_jalberty2018_jalb-wrapper-t2v-triple", "034_jalberty2018_jalb-wan21-t2v",
           "035_jalberty2018_jalb-wan22-moe-teacache", "036_jalberty2018_jalb-animate",
           "052_raindrop313_raindrop-startend", "054_s1ntecs_s1ntecs-t2v-lora",
           "055_sirdrafton_sirdrafton-api-i2v", "056_kairusann_kairusann-i2v-720p",
           "057_ritikvirus_ritik-wan22-i2v"}


def test_realworld_smoke_count_does_not_drop(tmp_path):
    files = sorted(REALWORLD.glob("0*.json"))
    assert len(files) >= 30
    ran = set()
    for path in files:
        result = CliRunner().invoke(main, ["run", str(path), "--smoke", "--device", "cpu", "--format", "json",
                                           "-o", str(tmp_path / path.stem)], env={"WFRUN_CACHE": str(tmp_path / "c")})
        if result.exit_code == 0:
            written = json.loads(result.stdout)["written"]
            assert written, path.name  # ran end to end: it wrote its video or images
            ran.add(path.stem)
        else:
            assert result.exit_code in (1, 2) and "Traceback" not in result.output, (path.name, result.output[-800:])
    assert RUNNING <= ran, sorted(RUNNING - ran)
    assert len(ran) >= len(RUNNING)
