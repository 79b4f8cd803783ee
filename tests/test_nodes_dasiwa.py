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


def test_the_floor_is_32_then_64_from_995e5ee():
    # CUSTOM 1:8192 at 0.23 MP: w = sqrt(230000/8192) = 5.3 -> 0 at Div32; h = 43406.9 -> 1356*32
    kw = dict(method="Use Resolution Presets", resolution_presets="360p", scale_from_image=False,
              aspect_preset="CUSTOM", manual_aspect_width=1, manual_aspect_height=8192)
    assert calc(**kw) == (32, 43392, 0.0, 43392.0)
    assert calc(dataclasses.replace(CTX, saved_date="2026-05-09"), **kw) == (64, 43392, 0.0, 43392.0)


def test_scale_from_image_without_an_image_is_refused():
    with pytest.raises(NodeInputError) as err:
        calc()
    assert err.value.input_name == "image"


def test_later_forms_are_refused_by_name():
    with pytest.raises(NodeInputError) as err:
        calc(image=torch.zeros(1, 64, 64, 3), custom_divisor=16)
    assert err.value.input_name == "custom_divisor"
