"""VACEInline / VACESmooth: frame-by-frame layouts worked by hand on clips whose frames carry
their own index (helpers from the join tests)."""

from __future__ import annotations

import pytest

from node_helpers import node
from test_wan_vace_prep import GREY, clip, indices, mask_rows
from wfrun.nodes.executor import ExecContext, NodeInputError


@pytest.mark.parametrize("class_type", ["VACEInline", "VACESmooth"])
def test_inline_regenerates_the_selection_rounded_up_to_4n_plus_1(class_type):
    video = clip(40)
    out = node(class_type)(ExecContext(), images=video, start_frame=12, end_frame=22, context_frames=8,
                           new_frames=4)
    control, mask, width, height, length, start, end, ctx_frames, new = out
    # selection 12..21 is 10 frames -> 13, plus 4 new: 17 grey frames between 4..11 and 22..29
    assert indices(control) == list(range(4, 12)) + [GREY] * 17 + list(range(22, 30))
    assert mask_rows(mask) == [0] * 8 + [1] * 17 + [0] * 8
    assert indices(start) == list(range(0, 4)) and indices(end) == list(range(30, 40))
    assert (width, height, length, ctx_frames, new) == (48, 32, 33, 8, 4)


def test_smooth_first_versions_replace_frames_at_both_edges():
    video = clip(40)
    control, mask, width, height, length, start, end = node("VACESmooth")(
        ExecContext(), images=video, start_frame=14, end_frame=20, context_frames=4, replace_frames=4,
        add_frames=8)
    # before = 0..13: context 6..9, replaced 10..13; after = 20..39: replaced 20..23, context 24..27
    # grey: 2 * 4 + 8 + 1 = 17 (the selection itself is dropped)
    assert indices(control) == list(range(6, 10)) + [GREY] * 17 + list(range(24, 28))
    assert mask_rows(mask) == [0] * 4 + [1] * 17 + [0] * 4
    assert indices(start) == list(range(0, 6)) and indices(end) == list(range(28, 40))
    assert length == 25


@pytest.mark.parametrize("start, end, name", [(0, 10, "start_frame"), (10, 40, "end_frame"), (10, 10, "end_frame"),
                                              (4, 20, "start_frame"), (12, 36, "end_frame"), (12, 50, "end_frame")])
def test_bad_selections_name_their_input(start, end, name):
    with pytest.raises(NodeInputError) as err:
        node("VACEInline")(ExecContext(), images=clip(40), start_frame=start, end_frame=end, context_frames=8)
    assert err.value.input_name == name


def test_size_off_the_grid_names_images():
    with pytest.raises(NodeInputError) as err:
        node("VACEInline")(ExecContext(), images=clip(40)[:, :, :40], start_frame=12, end_frame=22)
    assert err.value.input_name == "images"
