"""ResolutionMaster: the canvas's saved size passed on, the rescale factor of each pack
version, and real saves of each signature bound by position."""

from __future__ import annotations

import pytest
import torch

from node_helpers import node
from wfrun.formats.document import from_data
from wfrun.graph import build, check
from wfrun.nodes.executor import ExecContext, NodeInputError

CTX = ExecContext()
RM = "ResolutionMaster"


def test_2025_saves_pass_the_size_and_the_saved_rescale_value():
    width, height, factor, batch, latent = node(RM)(CTX, mode="Manual", latent_type="latent_4x8", width=624, height=832,
                                                    auto_detect=False, rescale_mode="resolution",
                                                    rescale_value=1.998520162579474, batch_size=1)
    assert (width, height, factor, batch) == (624, 832, 1.998520162579474, 1)
    assert latent["samples"].shape == (1, 4, 104, 78)
    # auto-detect changed nothing in these versions: the widget size stands
    assert node(RM)(CTX, mode="Manual", width=720, height=960, auto_detect=True, rescale_mode="resolution",
                    rescale_value=1.7, input_image=torch.zeros(1, 64, 64, 3))[:2] == (720, 960)


def test_latent_types_and_batch():
    out = node(RM)(CTX, mode="Manual", latent_type="latent_128x16", width=1280, height=720, auto_detect=False,
                   rescale_mode="megapixels", rescale_value=1.25, batch_size=2)
    assert out[2:4] == (1.25, 2) and out[4]["samples"].shape == (2, 128, 45, 80)
    with pytest.raises(NodeInputError):
        node(RM)(CTX, mode="Manual", width=-8, height=720)


@pytest.mark.parametrize("saved,expected", [
    (["Manual", 720, 960, False, "resolution", 1.7320508075688772], {"width": 720, "height": 960}),
    (["Manual", "latent_4x8", 624, 832, False, "resolution", 1.998520162579474, 1], {"width": 624, "batch_size": 1}),
])
def test_real_saves_bind(saved, expected):
    doc = {"last_node_id": 1, "last_link_id": 0, "version": 0.4, "links": [], "nodes": [
        {"id": 1, "type": RM, "pos": [0, 0], "size": [300, 300], "mode": 0, "inputs": [], "outputs": [],
         "widgets_values": saved}]}
    graph = build(from_data(doc, "w.json"))
    assert expected.items() <= graph.node("1").inputs.items()
    assert not [d for d in check(graph) if d.code == "widget-mismatch"]
