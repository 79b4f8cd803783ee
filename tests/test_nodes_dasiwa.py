"""DaSiWa Resolution Scale Calculator, first form: values worked out by hand from the
pack's formula (area = preset MP * 10**6; w = sqrt(area * ratio), h = sqrt(area / ratio),
rounded to the mode's multiple)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from specs_for_tests import node as ui_node, out, workflow
from wfrun.engine.executors import get_executor
from wfrun.formats.document import from_data
from wfrun.graph import build
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.specs.registry import default_registry

CTX = ExecContext(saved_date="2026-04-03")
#: The node's widgets as the set-13 file (Casboko, DaSiWa C-SVI-34) saves them.
SAVED = ["Use Resolution Presets", "0.36 MP - Small", "480p", False, True, "9:16 - Social", False, 16, 9,
         "WAN/LTX (Div32)"]
NAMES = ["method", "precision_presets", "resolution_presets", "no_scale", "scale_from_image", "aspect_preset",
         "swap_aspect", "manual_aspect_width", "manual_aspect_height", "mode"]


def calc(ctx=CTX, image=None, **changes):
    return get_executor("DaSiWa_ResolutionScaleCalculator")(ctx, **{**dict(zip(NAMES, SAVED)), **changes},
                                                           image=image)


def test_the_saved_widgets_bind_to_the_first_form():
    data = workflow([ui_node(1, "DaSiWa_ResolutionScaleCalculator", SAVED,
                             outputs=[out("width_int", "INT", [1]), out("height_int", "INT")]),
                     ui_node(2, "PreviewAny", [], inputs=[{"name": "source", "type": "*", "link": 1}])],
                    [[1, 1, 0, 2, 0, "INT"]])
    g = build(from_data(data, "t.json"), default_registry())
    inst = g.node("1")
    assert inst.signature.date in ("2026-04-03", "2026-05-09")
    assert {k: inst.inputs[k] for k in NAMES} == dict(zip(NAMES, SAVED))


def test_a_migrated_node_reads_its_saved_pre_rework_widgets():
    """``wfrun run`` migrates the node to the newest layout in memory (by name), so the
    renamed inputs come from the saved widgets; the 10 values fit 9eac62a and 995e5ee, which
    agree here."""
    saved = {"nodes": [{"id": 146, "type": "x", "widgets_values": []}],
             "definitions": {"subgraphs": [{"id": "x", "nodes": [
                 {"id": 2158, "type": "DaSiWa_ResolutionScaleCalculator", "widgets_values": SAVED}]}]}}
    ctx = dataclasses.replace(CTX, workflow_json=saved, node_id="146:2158", saved_date="2026-05-09")
    newest_layout = dict(resolution_preset="0.52 MP - SD", no_scale=False, scale_from_image=True,
                         aspect_preset_when_not_image="1:1 - Square", swap_aspect_when_not_image=True,
                         custom_aspect_width=16, custom_aspect_height=9, mode="WAN/LTX (Div32)", custom_divisor=8)
    fn = get_executor("DaSiWa_ResolutionScaleCalculator")
    assert fn(ctx, image=torch.zeros(2, 1280, 720, 3), **newest_layout) == (448, 832, 448.0, 832.0)
    # a linked input the migrated node has (mode) wins over the saved widget
    assert fn(ctx, image=torch.zeros(2, 1280, 720, 3), **{**newest_layout, "mode": "Standard"}) \
        == (462, 822, 462.0, 822.0)
    with pytest.raises(NodeInputError) as err:  # saved with the rework: nothing fits before it
        saved["definitions"]["subgraphs"][0]["nodes"][0]["widgets_values"] = list(newest_layout.values())
        fn(ctx, image=torch.zeros(2, 1280, 720, 3), **newest_layout)
    assert err.value.input_name == "resolution_preset"


def test_480p_from_a_720x1280_image_snaps_to_32():
    # ratio 0.5625: sqrt(380000*0.5625) = 462.3 -> 14*32; sqrt(380000/0.5625) = 821.9 -> 26*32
    assert calc(image=torch.zeros(2, 1280, 720, 3)) == (448, 832, 448.0, 832.0)


def test_a_swapped_preset_in_standard_mode():
    # 16:9 at 0.36 MP: sqrt(360000*16/9) = 800, sqrt(360000*9/16) = 450 exactly
    assert calc(method="Use Precision Presets", scale_from_image=False, swap_aspect=True, mode="Standard") \
        == (800, 450, 800.0, 450.0)


def test_no_scale_passes_the_source_size():
    assert calc(no_scale=True, image=torch.zeros(1, 96, 160, 3)) == (160, 96, 160.0, 96.0)
    assert calc(no_scale=True, scale_from_image=False) == (9, 16, 9.0, 16.0)  # the preset's own numbers


def test_the_floors_of_each_form():
    # CUSTOM 1:8192 at 0.23 MP: w = sqrt(230000/8192) = 5.3 -> 0 at Div32; h = 43406.9 -> 1356*32
    kw = dict(method="Use Resolution Presets", resolution_presets="360p", scale_from_image=False,
              aspect_preset="CUSTOM", manual_aspect_width=1, manual_aspect_height=8192)
    assert calc(**kw) == (32, 43392, 0.0, 43392.0)  # 9eac62a: 32
    may = dataclasses.replace(CTX, saved_date="2026-05-09")
    with pytest.raises(NodeInputError) as err:  # 995e5ee gives 64, 37f2ee4 32: the file cannot tell
        calc(may, **kw)
    assert err.value.input_name == "mode"
    # 37f2ee4's CUSTOM divisor (only that form has it): 5.3 / 10 -> 1 * 10; 43406.9 -> 4341 * 10;
    # at 100: 5.3 -> 0, raised to the floor of 100
    assert calc(may, mode="CUSTOM", custom_divisor=10, **kw) == (10, 43410, 10.0, 43410.0)
    assert calc(may, mode="CUSTOM", custom_divisor=100, **kw) == (100, 43400, 0.0, 43400.0)


def test_the_saved_form_of_2026_05_09_runs_where_forms_agree():
    may = dataclasses.replace(CTX, saved_date="2026-05-09")
    assert calc(may, image=torch.zeros(2, 1280, 720, 3)) == (448, 832, 448.0, 832.0)
    # Div64: 462.3 -> 7*64 = 448, 821.9 -> 13*64 = 832
    assert calc(may, image=torch.zeros(2, 1280, 720, 3), mode="LTX 2-Stage (Div64)") == (448, 832, 448.0, 832.0)


def test_scale_from_image_without_an_image_is_refused():
    with pytest.raises(NodeInputError) as err:
        calc()
    assert err.value.input_name == "image"


def test_the_rework_is_refused_by_date():
    with pytest.raises(NodeInputError) as err:
        calc(dataclasses.replace(CTX, saved_date="2026-06-05"), image=torch.zeros(1, 64, 64, 3))
    assert err.value.input_name == "resolution_preset"
