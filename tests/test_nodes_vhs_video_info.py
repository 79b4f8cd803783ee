"""VideoHelperSuite's VideoInfo nodes spread a Load Video node's video_info in the pack's
output order."""

from __future__ import annotations

import pytest

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError

CTX = ExecContext()
INFO = {"source_fps": 30.0, "source_frame_count": 90, "source_duration": 3.0, "source_width": 1280,
        "source_height": 720, "loaded_fps": 15.0, "loaded_frame_count": 45, "loaded_duration": 3.0,
        "loaded_width": 640, "loaded_height": 360}


def test_video_info_orders():
    assert node("VHS_VideoInfo")(CTX, video_info=INFO) == (30.0, 90, 3.0, 1280, 720, 15.0, 45, 3.0, 640, 360)
    assert node("VHS_VideoInfoSource")(CTX, video_info=INFO) == (30.0, 90, 3.0, 1280, 720)
    assert node("VHS_VideoInfoLoaded")(CTX, video_info=INFO) == (15.0, 45, 3.0, 640, 360)


def test_a_wrong_input_is_clear():
    with pytest.raises(NodeInputError):
        node("VHS_VideoInfo")(CTX, video_info={"source_fps": 1})
