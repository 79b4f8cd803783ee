"""Models stay on the GPU after their work and leave, least recently used first, only when
another needs the room (ComfyUI's model management). The GPU is simulated: a card of a
fixed size whose free memory is what the resident models leave."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from wfrun.models import residency

CARD = 10_000  # bytes on the simulated card


@pytest.fixture
def card(monkeypatch):
    on_gpu: dict[int, int] = {}  # id → bytes of the modules on the card
    moves: list[tuple[str, str]] = []
    names: dict[int, str] = {}

    def size(m):
        return sum(p.numel() * p.element_size() for p in m.parameters())

    monkeypatch.setattr(residency, "MIN_MARGIN", 1_000)
    monkeypatch.setattr(residency, "MARGIN_SHARE", 0.0)
    monkeypatch.setattr(residency, "free_memory", lambda device: (CARD - sum(on_gpu.values()), CARD))
    monkeypatch.setattr(residency, "_bytes_to_move", lambda m, device: 0 if id(m) in on_gpu else size(m))
    monkeypatch.setattr(residency.placement, "onload", lambda m, d: (on_gpu.__setitem__(id(m), size(m)),
                                                                     moves.append(("in", names[id(m)]))))
    monkeypatch.setattr(residency.placement, "offload", lambda m, d: (on_gpu.pop(id(m), None),
                                                                      moves.append(("out", names[id(m)]))))
    residency._RESIDENT.clear()

    def model(name: str, floats: int) -> nn.Module:
        m = nn.Linear(floats, 1, bias=False)
        names[id(m)] = name
        return m

    yield model, moves, on_gpu
    residency._RESIDENT.clear()


def test_models_stay_until_another_needs_the_room(card):
    model, moves, on_gpu = card
    high, low, vae = model("high", 1000), model("low", 1000), model("vae", 250)  # 4000, 4000, 1000 bytes
    residency.bring(high, "cuda")
    residency.bring(vae, "cuda")
    assert moves == [("in", "high"), ("in", "vae")]
    residency.bring(high, "cuda")  # the next seed: already there, nothing moves
    assert moves == [("in", "high"), ("in", "vae"), ("in", "high")] and len(on_gpu) == 2
    # 4000 + 1000 resident leave 5000; the low expert needs 4000 + the 1000 margin: fits
    residency.bring(low, "cuda")
    assert ("out", "high") not in moves and len(on_gpu) == 3
    # a second large model: the least recently used (the VAE, then the high expert) leave
    big = model("big", 1200)  # 4800 bytes: needs 5800 free of the 1000 left
    residency.bring(big, "cuda")
    assert moves[-3:] == [("out", "vae"), ("out", "high"), ("in", "big")]
    assert set(on_gpu) == {id(low), id(big)}
    assert residency.resident() == [low, big]


def test_a_lent_model_goes_back_after_its_work(card):
    model, moves, on_gpu = card
    expert, text = model("expert", 1000), model("text", 1300)  # 4000 and 5200 bytes
    residency.bring(expert, "cuda")
    with residency.lent(text, "cuda"):  # 4800 + margin does not fit beside the expert
        assert set(on_gpu) == {id(text)}
    assert moves == [("in", "expert"), ("out", "expert"), ("in", "text"), ("out", "text")]
    assert residency.resident() == []


def test_on_the_cpu_nothing_is_tracked():
    residency._RESIDENT.clear()
    module = nn.Linear(3, 3)
    residency.bring(module, "cpu")
    assert residency.resident() == [] and module.weight.device == torch.device("cpu")


def test_force_offload_keeps_a_model_on_a_card_with_room(card):
    """The packs' force_offload on a card that stays at least half free: the model stays,
    tracked, and goes back only when another model needs the room."""
    model, moves, on_gpu = card
    expert, other = model("expert", 1000), model("other", 1500)  # 4000 and 6000 bytes
    residency.bring(expert, "cuda")
    residency.done(expert, "cuda", force_offload=True)  # 6000 of 10000 free: it stays
    assert id(expert) in on_gpu and residency.resident() == [expert]
    residency.bring(other, "cuda")  # 6000 + margin 1000 > 6000 free: the expert leaves now
    assert moves == [("in", "expert"), ("out", "expert"), ("in", "other")]
    residency.done(other, "cuda", force_offload=True)  # 4000 free < half the card: it goes, as the pack sends it
    assert on_gpu == {} and residency.resident() == [] and moves[-1] == ("out", "other")


def test_without_force_offload_a_model_loaded_on_the_gpu_becomes_evictable(card):
    model, moves, on_gpu = card
    loaded, incoming = model("loaded", 1500), model("incoming", 1000)
    on_gpu[id(loaded)] = 6000  # put there by its loader, not by bring
    residency.done(loaded, "cuda", force_offload=False)
    assert residency.resident() == [loaded] and moves == []
    residency.bring(incoming, "cuda")  # 4000 + 1000 margin > 4000 free: the loaded model leaves
    assert moves == [("out", "loaded"), ("in", "incoming")]


def test_force_offload_on_the_cpu_moves_as_asked(card):
    model, moves, _ = card
    module = model("cpu-model", 10)
    residency.done(module, "cpu", force_offload=True)
    assert moves == [("out", "cpu-model")] and residency.resident() == []


def test_a_gpu_budget_makes_the_card_that_small(monkeypatch):
    """``--gpu-memory``: free memory is what the budget leaves beside what PyTorch holds,
    never more than the card really has free."""
    gib = 2**30
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (100 * gib, 140 * gib))
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device=None: 30 * gib)
    assert residency.free_memory("cuda") == (100 * gib, 140 * gib)
    with residency.gpu_budget(24 * gib):
        assert residency.free_memory("cuda") == (0, 24 * gib)  # 30 held: over the budget
        monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device=None: 4 * gib)
        assert residency.free_memory("cuda") == (20 * gib, 24 * gib)
        monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (5 * gib, 140 * gib))
        assert residency.free_memory("cuda") == (5 * gib, 24 * gib)  # others hold the rest of the card
    assert residency.free_memory("cuda") == (5 * gib, 140 * gib)


def test_under_a_budget_the_first_expert_leaves_for_the_second(card, monkeypatch):
    """Two 4000-byte experts on a card whose budget holds only one with its margin: the
    high-noise expert goes when the low-noise one comes in (the card itself has room)."""
    model, moves, on_gpu = card
    monkeypatch.setattr(residency, "free_memory",
                        lambda device: (min(CARD, residency._BUDGET or CARD) - sum(on_gpu.values()),
                                        min(CARD, residency._BUDGET or CARD)))
    high, low = model("high", 1000), model("low", 1000)
    with residency.gpu_budget(6_000):
        residency.bring(high, "cuda")
        residency.bring(low, "cuda")
    assert moves == [("in", "high"), ("out", "high"), ("in", "low")]
    residency._RESIDENT.clear()
    on_gpu.clear()
    moves.clear()
    residency.bring(high, "cuda")
    residency.bring(low, "cuda")  # no budget: both stay
    assert moves == [("in", "high"), ("in", "low")]
