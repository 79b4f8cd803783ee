"""VHS_SelectLatest: the newest matching entry of the prefix's folder, as the pack's front
end picks it (names starting with the prefix's last part and ending with the postfix,
sorted by modification time), worked out by hand on files with set times."""

from __future__ import annotations

import os

import pytest

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.vhs.path_loaders import resolve_path


@pytest.fixture
def ctx(tmp_path):
    for name in ("input", "output"):
        (tmp_path / name).mkdir()
    out = tmp_path / "output"
    # (name, mtime): the newest overall is a .png; the newest .mp4 is AnimateDiff_00002
    for name, mtime in [("AnimateDiff_00001.mp4", 100), ("AnimateDiff_00002.mp4", 300),
                        ("AnimateDiff_00003.png", 400), ("Other_00009.mp4", 500), ("AnimateDiff_00004.mp4", 200)]:
        (out / name).write_bytes(b"x")
        os.utime(out / name, (mtime, mtime))
    (out / "clips").mkdir()
    (out / "clips" / "a.webm").write_bytes(b"x")
    return ExecContext(input_dir=tmp_path / "input", output_dir=out)


def select(ctx, prefix, postfix=""):
    return node("VHS_SelectLatest")(ctx, filename_prefix=prefix, filename_postfix=postfix)[0]


def test_newest_matching_file_by_modification_time(ctx):
    assert select(ctx, "output/AnimateDiff", ".mp4") == "output/AnimateDiff_00002.mp4"
    assert select(ctx, "output/AnimateDiff") == "output/AnimateDiff_00003.png"
    assert select(ctx, "output/", ".mp4") == "output/Other_00009.mp4"
    assert select(ctx, "output/clips/", ".webm") == "output/clips/a.webm"


def test_the_result_is_a_path_the_vhs_loaders_open(ctx):
    path = resolve_path(ctx, select(ctx, "output/AnimateDiff", ".mp4"), "video", "video")
    assert path == (ctx.output_dir / "AnimateDiff_00002.mp4").resolve()


@pytest.mark.parametrize("prefix", ["AnimateDiff", "output/../../x", "/etc/pass", "output/none_", "nothere/x"])
def test_no_folder_no_match_and_escapes_are_refused_naming_the_prefix(ctx, prefix):
    with pytest.raises(NodeInputError) as err:
        select(ctx, prefix, ".mp4")
    assert err.value.input_name == "filename_prefix"
