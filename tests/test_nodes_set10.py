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
    value = object()
    assert reserved_vram.reserved_vram_setter(CTX, anything=value, reserved=0.6, mode="auto") == (value,)
    assert no_release == []


def test_reserved_vram_refuses_a_text_reserve():
    with pytest.raises(NodeInputError) as err:
        node("ReservedVRAMSetter")(CTX, reserved="lots", seed=0)
    assert err.value.input_name == "reserved"
