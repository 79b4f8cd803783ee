"""How many of the wider set of public Wan workflows (``../shared/corpus/public``: 42 files
by 16 authors, collected for issue 15; its manifest.json gives each file's repository, path,
commit and license) run end to end with ``wfrun run F --smoke``: the set that runs may only
grow. Files wfrun cannot run yet are refused before their models load (unsupported nodes,
models it has no stand-in for), so the sweep stays quick; the few that fail later fail on a
node's input with a clear error, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from wfrun.cli import main

PUBLIC = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "public"
#: The files that ran at the last count (2026-12-01, session 8: 14 of 42); each must keep running.
RUNNING = {"008_Smyshnikof_wan22-i2v", "014_yameprogrammer_i2v-wan22-agent", "015_yameprogrammer_flf-wan22-api",
           "016_yameprogrammer_wan22-flf2v-native", "017_yameprogrammer_wan22-i2v-lightning",
           "018_yameprogrammer_wan22-funcontrol", "023_xiweichuang_remix-i2v-qwen3",
           "025_eriktrk_i2v-lightning-api", "026_kazuph_flf-720",
           "027_kazuph_t2v-5b", "028_kazuph_i2v-5b",
           "036_dalsoop_wan21-i2v", "037_torres2500_i2v-gguf", "038_torres2500_i2v-lora"}


def test_public_set_is_whole_and_sourced():
    manifest = json.loads((PUBLIC / "manifest.json").read_text(encoding="utf-8"))
    files = sorted(p.name for p in PUBLIC.glob("0*.json"))
    assert files == sorted(r["file"] for r in manifest) and len(files) >= 30
    assert all(r["repo"] and r["path"] and len(r["commit"]) == 40 for r in manifest)
    assert len({r["repo"].split("/")[0] for r in manifest}) >= 10  # many authors


def test_public_smoke_count_does_not_drop(tmp_path):
    ran = set()
    for path in sorted(PUBLIC.glob("0*.json")):
        result = CliRunner().invoke(main, ["run", str(path), "--smoke", "--device", "cpu", "--format", "json",
                                           "-o", str(tmp_path / path.stem)], env={"WFRUN_CACHE": str(tmp_path / "c")})
        if result.exit_code == 0:
            assert json.loads(result.stdout)["written"], path.name  # ran end to end: it wrote its video or images
            ran.add(path.stem)
        else:
            assert result.exit_code in (1, 2) and "Traceback" not in result.output, (path.name, result.output[-800:])
    assert RUNNING <= ran, sorted(RUNNING - ran)
    assert len(ran) >= len(RUNNING)
