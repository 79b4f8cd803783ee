"""VisualFrameSelector: the inclusive range rules worked by hand on a lossless clip whose
frames carry their index, the all-frames switch by version, the silent placeholder sound."""

from __future__ import annotations

import pytest
import torch

from node_helpers import node
from test_wan_vace_prep_load_folder import write_clip
from wfrun.nodes.executor import ExecContext, NodeInputError


@pytest.fixture
def root(tmp_path):
    write_clip(tmp_path / "v.mkv", [10 * i for i in range(10)])
    return tmp_path


def values(images):
    return [round(float(f[0, 0, 0]) * 255) // 10 for f in images]


@pytest.mark.parametrize("start, end, first, last", [(2, 5, 2, 5), (3, 0, 3, 9), (4, 4, 4, 5), (20, 30, 9, 9),
                                                     (9, 2, 9, 9)])
def test_range(root, start, end, first, last):
    sel, every, count, total, s, e, fps, audio = node("VisualFrameSelector")(
        ExecContext(input_dir=root), video="v.mkv", start_frame=start, end_frame=end)
    assert values(sel) == list(range(first, last + 1)) and count == last - first + 1
    assert (total, s, e, fps) == (10, first, last, 8.0)
    assert every.shape == (1, 1, 1, 3) and not every.any()
    assert audio["sample_rate"] == 44100 and audio["waveform"].shape == (1, 2, 1)


def test_all_frames_by_switch_and_by_version(root):
    out = node("VisualFrameSelector")(ExecContext(input_dir=root), video="v.mkv", output_all_frames=True)
    assert values(out[1]) == list(range(10))
    old = node("VisualFrameSelector")(ExecContext(input_dir=root, saved_date="2026-02-28"), video="v.mkv")
    assert values(old[1]) == list(range(10))
    with pytest.raises(NodeInputError):
        node("VisualFrameSelector")(ExecContext(input_dir=root, saved_date="2026-02-27"), video="v.mkv")


def test_file_outside_the_input_folder_is_refused(root):
    with pytest.raises(NodeInputError) as err:
        node("VisualFrameSelector")(ExecContext(input_dir=root), video="../v.mkv")
    assert err.value.input_name == "video"
