"""Nodes added for the tenth public set. References: the pack's formulas worked by hand
(ReservedVRAMSetter's reserve), values put in and handed on."""

from __future__ import annotations

import pytest
import torch

from node_helpers import node
from wfrun.engine.executors import load_packs
from wfrun.models import residency
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.reserved_vram import nodes as reserved_vram

load_packs()
CTX = ExecContext()


# --- ReservedVRAMSetter (Windecay/ComfyUI-ReservedVRAM) -----------------------------------

@pytest.fixture
def no_release(monkeypatch):
    calls = []
    monkeypatch.setattr(residency, "release_all", lambda *a, **k: calls.append("models"))
    monkeypatch.setattr(residency, "release_cached_memory", lambda *a, **k: calls.append("cache"))
    return calls


@pytest.mark.parametrize("reserved,mode,cap,used,expected", [
    (1.0, "manual", 0.0, 10.0, 1.0),      # manual ignores the GPU and the cap
    (-0.5, "manual", 0.0, None, 0.0),     # never below 0
    (0.6, "auto", 0.0, 7.254, 7.85),      # used + reserved, rounded to 2 places
    (-2.0, "auto", 0.0, 1.5, 0.0),        # at least 0
    (0.6, "auto", 4.0, 7.25, 4.0),        # at most the cap when the cap is above 0
    (0.6, "auto", 0.0, None, 0.6),        # no GPU: the manual value
    (-1.0, "auto", 0.0, None, 0.0),
])
def test_reserved_vram_reserve_follows_the_pack(reserved, mode, cap, used, expected):
    assert reserved_vram.reserved_gb(reserved, mode, cap, used) == pytest.approx(expected)


def test_reserved_vram_hands_anything_and_seed_on(no_release, monkeypatch):
    monkeypatch.setattr(reserved_vram, "gpu_used_gb", lambda: None)
    value = {"samples": torch.ones(1, 16, 2, 4, 4)}
    out, seed, gb = node("ReservedVRAMSetter")(CTX, reserved=1, mode="manual", seed=485581468409274,
                                               clean_gpu_before=True, anything=value)
    assert out is value and seed == 485581468409274 and gb == 1.0
    assert no_release == ["models", "cache"]


def test_reserved_vram_without_anything_blocks_and_keeps_seed_minus_one(no_release, monkeypatch):
    monkeypatch.setattr(reserved_vram, "gpu_used_gb", lambda: 3.0)
    out, seed, gb = node("ReservedVRAMSetter")(CTX, reserved=0.6, mode="auto", seed=-1, clean_gpu_before=False)
    assert out is reserved_vram.BLOCKED and "ReservedVRAMSetter" in repr(out)
    assert seed == -1 and gb == 3.6 and no_release == []


def test_reserved_vram_old_shape_is_a_pass_through(no_release):
    import dataclasses

    value = object()
    ctx = dataclasses.replace(CTX, saved_date="2025-10-10")
    assert node("ReservedVRAMSetter")(ctx, anything=value, reserved=0.6, mode="auto") == (value,)
    assert no_release == []


def test_reserved_vram_refuses_a_text_reserve():
    with pytest.raises(NodeInputError) as err:
        node("ReservedVRAMSetter")(CTX, reserved="lots", seed=0)
    assert err.value.input_name == "reserved"


# --- ResizeAndPadImage, ImageScaleToMaxDimension (ComfyUI comfy_extras/nodes_images.py) ------

def test_resize_and_pad_fits_and_centres_on_black():
    image = torch.rand(2, 4, 6, 3)  # 6 wide, 4 high -> into 12x12: scale 2, 12x8, 2 rows above
    (out,) = node("ResizeAndPadImage")(CTX, image=image, target_width=12, target_height=12, padding_color="black",
                                        interpolation="nearest-exact")
    assert out.shape == (2, 12, 12, 3)
    expected = image.repeat_interleave(2, dim=1).repeat_interleave(2, dim=2)  # nearest at x2
    assert torch.equal(out[:, 2:10], expected)
    assert torch.all(out[:, :2] == 0) and torch.all(out[:, 10:] == 0)


def test_resize_and_pad_truncates_the_side_and_pads_white():
    image = torch.rand(1, 3, 7, 3)  # into 5x5: scale 5/7, 5 x int(15/7)=2, offset (5-2)//2 = 1
    (out,) = node("ResizeAndPadImage")(CTX, image=image, target_width=5, target_height=5, padding_color="white",
                                        interpolation="bilinear")
    assert out.shape == (1, 5, 5, 3)
    ref = torch.nn.functional.interpolate(image.movedim(-1, 1), size=(2, 5), mode="bilinear").movedim(1, -1)
    assert torch.allclose(out[:, 1:3], ref)
    assert torch.all(out[:, 0] == 1) and torch.all(out[:, 3:] == 1)


@pytest.mark.parametrize("h,w,size,expected", [(4, 8, 16, (8, 16)), (9, 6, 12, (12, 8)), (5, 5, 3, (3, 3)),
                                               (3, 7, 10, (4, 10))])
def test_scale_to_max_dimension_sizes(h, w, size, expected):
    (out,) = node("ImageScaleToMaxDimension")(CTX, image=torch.rand(1, h, w, 3), upscale_method="bilinear",
                                               largest_size=size)
    assert out.shape[1:3] == expected


def test_scale_to_max_dimension_matches_nearest_repeat():
    image = torch.rand(1, 2, 3, 3)
    (out,) = node("ImageScaleToMaxDimension")(CTX, image=image, upscale_method="nearest-exact", largest_size=9)
    assert torch.equal(out, image.repeat_interleave(3, dim=1).repeat_interleave(3, dim=2))


def test_scale_to_max_dimension_zero_is_refused():
    with pytest.raises(NodeInputError) as err:
        node("ImageScaleToMaxDimension")(CTX, image=torch.rand(1, 2, 3, 3), upscale_method="area", largest_size=0)
    assert err.value.input_name == "largest_size"


# --- ComfyUI-Logic (theUpsider) --------------------------------------------------------------

@pytest.mark.parametrize("class_type,value", [("String-🔬", "wan22/"), ("Int-🔬", 480), ("Float-🔬", 0.25),
                                              ("Bool-🔬", True)])
def test_logic_values_are_handed_on(class_type, value):
    assert node(class_type)(CTX, value=value) == (value,)


@pytest.mark.parametrize("a,b,comparison,expected", [(1, 1.0, "a == b", True), (2, 3, "a != b", True),
                                                     ("2", "10", "a < b", False), (5, 4, "a > b", True),
                                                     (4, 4, "a <= b", True), (3, 4, "a >= b", False)])
def test_logic_compare_is_pythons(a, b, comparison, expected):
    assert node("Compare-🔬")(CTX, a=a, b=b, comparison=comparison) == (expected,)


def test_logic_compare_refuses_what_cannot_be_ordered():
    with pytest.raises(NodeInputError) as err:
        node("Compare-🔬")(CTX, a="text", b=3, comparison="a < b")
    assert err.value.input_name == "comparison"


@pytest.mark.parametrize("any_value,expected", [(1, "yes"), (0, "no"), ("", "no"), ("x", "yes")])
def test_logic_if_any_picks_by_truth(any_value, expected):
    assert node("If ANY return A else B-🔬")(CTX, ANY=any_value, IF_TRUE="yes", IF_FALSE="no") == (expected,)


def test_logic_if_any_refuses_the_short_lived_node_form():
    fn = node("If ANY return A else B-🔬")
    with pytest.raises(NodeInputError):
        fn(CTX, ANY=True, NODE_TRUE="KSampler", NODE_FALSE="KSampler")


# --- a prompt's namesake node is read with the pack whose inputs it gives --------------------

@pytest.mark.parametrize("inputs,pack", [
    ({"offload_model": True, "offload_cache": True, "anything": ["1", 0]}, "Comfyui-Memory_Cleanup"),
    ({"input": ["1", 0], "cleanup_mode": "Full Cleanup"}, "ComfyUI-QwenVL-Mod"),
])
def test_api_vram_cleanup_takes_the_pack_its_inputs_name(inputs, pack):
    from wfrun.formats.document import from_data
    from wfrun.graph import CheckOptions, build, check

    prompt = {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
              "2": {"class_type": "VRAMCleanup", "inputs": inputs}}
    graph = build(from_data(prompt, "p.json"))
    assert graph.node("2").spec.pack == pack
    assert not [d for d in check(graph, CheckOptions()) if d.node_id == "2" and d.severity.name == "ERROR"]
