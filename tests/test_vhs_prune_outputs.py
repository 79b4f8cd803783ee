"""VHS_PruneOutputs and VHS_SelectFilename on what VHS_VideoCombine returns.

The reference is the pack's rule, re-derived: of the files [png, video, video-with-audio]
"Intermediate" deletes the middle ones, "Intermediate and Utility" also the first, "All"
every one; and nothing outside the output folder is ever deleted.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError

H264 = {"format": "video/h264-mp4", "pix_fmt": "yuv420p", "crf": 19, "save_metadata": True,
        "trim_to_audio": False}


@pytest.fixture
def ctx(tmp_path):
    (tmp_path / "input").mkdir()
    return ExecContext(input_dir=tmp_path / "input", output_dir=tmp_path / "output",
                       workflow_json={"nodes": [], "links": []})


def combine(ctx, audio=True, save_output=True):
    images = torch.linspace(0, 1, 8).view(8, 1, 1, 1).expand(8, 16, 16, 3).contiguous()
    sound = {"waveform": torch.zeros(1, 1, 4000), "sample_rate": 8000} if audio else None
    (filenames,) = node("VHS_VideoCombine")(ctx, images=images, frame_rate=8, filename_prefix="clip",
                                            audio=sound, save_output=save_output, **H264)
    return filenames


def expected_left(files, option):
    """The pack's deletion rule written out by position."""
    doomed = set(files[1:-1])
    if option in ("Intermediate and Utility", "All"):
        doomed.add(files[0])
    if option == "All":
        doomed.add(files[-1])
    return [f for f in files if f not in doomed]


@pytest.mark.parametrize("option", ["Intermediate", "Intermediate and Utility", "All"])
@pytest.mark.parametrize("audio", [True, False])
def test_prune_deletes_what_the_pack_deletes(ctx, option, audio):
    filenames = combine(ctx, audio=audio)
    files = filenames[1]
    assert len(files) == (3 if audio else 2)
    assert node("VHS_PruneOutputs")(ctx, filenames=filenames, options=option) == ()
    left = [f for f in files if Path(f).exists()]
    assert left == expected_left(files, option)
    assert [str(p) for p in ctx.written] == left


def test_prune_of_previews_in_the_temp_folder(ctx):
    filenames = combine(ctx, save_output=False)
    assert all("/temp/" in f for f in filenames[1])
    node("VHS_PruneOutputs")(ctx, filenames=filenames, options="Intermediate and Utility")
    assert [Path(f).exists() for f in filenames[1]] == [False, False, True]


def test_prune_of_nothing_and_of_a_file_already_gone(ctx):
    assert node("VHS_PruneOutputs")(ctx, filenames=(True, []), options="Intermediate") == ()
    filenames = combine(ctx)
    Path(filenames[1][1]).unlink()
    node("VHS_PruneOutputs")(ctx, filenames=filenames, options="Intermediate and Utility")
    assert [Path(f).exists() for f in filenames[1]] == [False, False, True]


def test_prune_never_deletes_outside_the_output_folder(ctx, tmp_path):
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    ctx.output_dir.mkdir()
    inside = ctx.output_dir / "a.png"
    inside.write_text("x")
    for sneaky in (str(victim), str(ctx.output_dir / ".." / "precious.txt"), "../precious.txt"):
        with pytest.raises(NodeInputError) as info:
            node("VHS_PruneOutputs")(ctx, filenames=(True, [str(inside), sneaky, str(inside)]),
                                     options="Intermediate")
        assert info.value.input_name == "filenames"
    assert victim.read_text() == "keep me" and inside.exists()  # checked before anything is deleted
    # a link inside the output folder is removed itself; its target outside stays
    link = ctx.output_dir / "link.mp4"
    link.symlink_to(victim)
    node("VHS_PruneOutputs")(ctx, filenames=(True, [str(inside), str(link), str(inside)]), options="Intermediate")
    assert not link.is_symlink() and victim.read_text() == "keep me"


def test_prune_refuses_what_the_pack_asserts_against(ctx):
    with pytest.raises(NodeInputError):
        node("VHS_PruneOutputs")(ctx, filenames=(True, ["a.png"]), options="Intermediate")
    with pytest.raises(NodeInputError):
        node("VHS_PruneOutputs")(ctx, filenames="clip.mp4", options="Intermediate")


def test_select_filename_indexes_like_python(ctx):
    filenames = combine(ctx)
    files = filenames[1]
    assert node("VHS_SelectFilename")(ctx, filenames=filenames) == (files[-1],)
    assert node("VHS_SelectFilename")(ctx, filenames=filenames, index=0) == (files[0],)
    with pytest.raises(NodeInputError):
        node("VHS_SelectFilename")(ctx, filenames=filenames, index=3)
