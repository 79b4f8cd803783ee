"""Core LoadImageMask: one channel of an input-folder image, in ComfyUI's older form (files
without a version or before 0.21.0) and its LoadImage-based form (0.21.0 on), checked
against Pillow's own channel values."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError


def _ctx(tmp_path, ver=None) -> ExecContext:
    props = {"ver": ver} if ver else {}
    workflow = {"nodes": [{"id": 7, "type": "LoadImageMask", "properties": props}]}
    return ExecContext(input_dir=tmp_path, output_dir=tmp_path / "out", node_id="7", workflow_json=workflow)


@pytest.fixture
def rgba(tmp_path):
    g = np.random.default_rng(0)
    array = g.integers(0, 256, (6, 5, 4), dtype=np.uint8)
    Image.fromarray(array, "RGBA").save(tmp_path / "m.png")
    Image.fromarray(array[..., :3], "RGB").save(tmp_path / "rgb.png")
    return array


@pytest.mark.parametrize("ver", [None, "0.3.45", "0.21.0"])
def test_colour_channels_and_alpha(tmp_path, rgba, ver):
    ctx = _ctx(tmp_path, ver)
    for index, channel in enumerate(("red", "green", "blue")):
        mask, = node("LoadImageMask")(ctx, image="m.png", channel=channel)
        assert mask.shape == (1, 6, 5)
        assert torch.equal(mask[0], torch.from_numpy(rgba[..., index].astype(np.float32) / 255.0))
    alpha, = node("LoadImageMask")(ctx, image="m.png", channel="alpha")
    torch.testing.assert_close(alpha[0], torch.from_numpy(1.0 - rgba[..., 3].astype(np.float32) / 255.0))


def test_alpha_of_an_image_without_one_depends_on_the_release(tmp_path, rgba):
    older, = node("LoadImageMask")(_ctx(tmp_path), image="rgb.png", channel="alpha")
    assert older.shape == (1, 6, 5) and not older.any()  # converted to RGBA: alpha 255 -> 0
    newer, = node("LoadImageMask")(_ctx(tmp_path, "0.21.0"), image="rgb.png", channel="alpha")
    assert newer.shape == (1, 64, 64) and not newer.any()  # LoadImage's placeholder


def test_names_leading_out_of_the_input_folder_are_refused(tmp_path, rgba):
    (tmp_path / "in").mkdir()
    with pytest.raises(NodeInputError) as err:
        node("LoadImageMask")(_ctx(tmp_path / "in"), image="../m.png", channel="red")
    assert err.value.input_name == "image"
    with pytest.raises(NodeInputError) as err:
        node("LoadImageMask")(_ctx(tmp_path), image="m.png", channel="hue")
    assert err.value.input_name == "channel"


def test_saved_widgets_bind_with_the_upload_value_after_channel():
    """The frontend adds the upload button after the last required widget, so the file saves
    [file, channel, "image"] (as ComfyUI's own LoadImageMask nodes in public files do)."""
    import json

    from wfrun.formats import load_text
    from wfrun.graph import build
    from wfrun.migrate.rebind import target_slots
    from wfrun.specs.registry import default_registry

    ui = {"last_node_id": 1, "last_link_id": 0, "links": [], "groups": [], "config": {}, "extra": {},
          "version": 0.4,
          "nodes": [{"id": 1, "type": "LoadImageMask", "pos": [0, 0], "size": [300, 80], "mode": 0,
                     "outputs": [{"name": "MASK", "type": "MASK", "links": None}],
                     "widgets_values": ["mask.png", "red", "image"]}]}
    graph = build(load_text(json.dumps(ui), "m.json"), default_registry())
    inputs = graph.node("1").inputs
    assert inputs["image"] == "mask.png" and inputs["channel"] == "red"
    signature = default_registry().get("LoadImageMask").latest
    assert [s.kind for s in target_slots(signature, False, {})] == ["value", "value", "upload"]
