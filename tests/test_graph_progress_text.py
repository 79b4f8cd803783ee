"""The frontend's progress-text preview: ComfyUI sends some nodes' text to the window by the
node's id (core's GetImageSize: "width: …, height: …\\n batch size: …"), the frontend shows
it in a widget of its own and saves it as one more string after the node's widgets. ComfyUI
never passes it to the node, so it binds to nothing and is no mismatch (pubcol 039)."""

from __future__ import annotations

from specs_for_tests import inp, node, out, workflow
from wfrun.formats.document import from_data
from wfrun.graph import build, check
from wfrun.graph.widgets import reports_progress_text, trim_trailing_empties
from wfrun.specs.spec import Signature

TEXT = "width: 1072, height: 1952\n batch size: 1"


def _file(values: list) -> dict:
    loader = node(1, "LoadImage", ["a.png", "image"], outputs=[out("IMAGE", "IMAGE", [1])])
    size = node(2, "GetImageSize", values, inputs=[inp("image", "IMAGE", 1)],
                outputs=[out("width", "INT"), out("height", "INT"), out("batch_size", "INT")],
                properties={"cnr_id": "comfy-core", "ver": "0.11.0", "Node name for S&R": "GetImageSize"})
    return workflow([loader, size], [[1, 1, 0, 2, 0, "IMAGE"]])


def test_get_image_size_saved_with_its_size_text_binds_exactly(registry):
    graph = build(from_data(_file([TEXT]), "039.json"), registry)
    size = graph.node("2")
    assert size.binding.fit == "exact" and size.unbound_widgets == []
    assert set(size.inputs) == {"image"}
    assert not [d for d in [*graph.problems, *check(graph)] if d.node_id == "2"]
    assert build(from_data(_file([]), "fresh.json"), registry).node("2").binding.fit == "exact"


def test_only_one_string_after_the_widgets_of_a_node_that_reports_text():
    hidden = {"name": "unique_id", "type": "UNIQUE_ID", "section": "hidden"}
    width = {"name": "width", "type": "INT", "section": "required", "default": 8}
    reporting = Signature.model_validate({"inputs": [width, hidden], "outputs": []})
    silent = Signature.model_validate({"inputs": [width], "outputs": []})
    assert reports_progress_text(reporting) and not reports_progress_text(silent)
    assert trim_trailing_empties([8, "width: 8"], 1, reporting) == [8]
    assert trim_trailing_empties([8, "width: 8"], 1, silent) == [8, "width: 8"]  # a value of its own
    assert trim_trailing_empties([8, "a", "b"], 1, reporting) == [8, "a", "b"]  # two strings: not the preview
    assert trim_trailing_empties([8, 3], 1, reporting) == [8, 3]  # a number is no text


def test_a_two_widget_node_is_still_a_mismatch_when_short_of_one(registry):
    # the preview is only ever after every widget: a missing widget is not made up for
    spec = registry.get("GetImageSize")
    assert reports_progress_text(spec.latest)
    graph = build(from_data(_file([TEXT, TEXT]), "two.json"), registry)
    assert graph.node("2").binding.fit != "exact"


def test_a_trailing_colour_past_the_slots_is_the_frontends_own():
    """ComfyUI's InfiniteTalk template saves its Painter nodes as
    ['', 1216, 960, '#000000', '#000000']: four declared widgets and a brush colour."""
    assert trim_trailing_empties(["", 1216, 960, "#000000", "#000000"], 4) == ["", 1216, 960, "#000000"]
    assert trim_trailing_empties([8, "#ff00aa"], 1) == [8]
    assert trim_trailing_empties([8, "#ff00aa"], 2) == [8, "#ff00aa"]  # a slot of its own takes it
    assert trim_trailing_empties([8, "#12345"], 1) == [8, "#12345"]  # not a colour: still a mismatch
    assert trim_trailing_empties([8, "red"], 1) == [8, "red"]
