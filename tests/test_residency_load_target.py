"""Core loaders put a model straight onto the GPU only while the card keeps half its memory
free with it there, counting the loads in flight, and never under a --gpu-memory budget
(residency.load_target); otherwise into host memory, as ComfyUI loads."""

from __future__ import annotations

import pytest

from wfrun.models import residency

GIB = 2**30


@pytest.fixture
def card(monkeypatch):
    state = {"free": 80 * GIB, "total": 140 * GIB}
    monkeypatch.setattr(residency, "free_memory", lambda device: (state["free"], state["total"]))
    return state


def test_a_model_that_leaves_half_the_card_free_loads_onto_it(card):
    card["free"] = 100 * GIB
    with residency.load_target(13 * GIB, "cuda:0", "cpu") as target:
        assert target == "cuda:0"
    card["free"] = 80 * GIB
    with residency.load_target(11 * GIB, "cuda:0", "cpu") as target:  # 69 GiB would be left of 140
        assert target == "cpu"


def test_loads_in_flight_claim_their_bytes_until_they_end(card):
    card["free"] = 100 * GIB
    with residency.load_target(20 * GIB, "cuda:0", "cpu") as first:
        with residency.load_target(20 * GIB, "cuda:0", "cpu") as second:  # 100 - 20 - 20 < 70
            assert (first, second) == ("cuda:0", "cpu")
    with residency.load_target(20 * GIB, "cuda:0", "cpu") as again:  # the claim ended with the load
        assert again == "cuda:0"


def test_a_claim_ends_when_the_load_fails(card):
    card["free"] = 100 * GIB
    with pytest.raises(RuntimeError):
        with residency.load_target(25 * GIB, "cuda:0", "cpu"):
            raise RuntimeError("damaged file")
    with residency.load_target(25 * GIB, "cuda:0", "cpu") as target:
        assert target == "cuda:0"


def test_under_a_budget_or_off_the_gpu_models_load_into_host_memory(card):
    card["free"] = 140 * GIB
    with residency.gpu_budget(24 * GIB):
        with residency.load_target(1 * GIB, "cuda:0", "cpu") as target:
            assert target == "cpu"
    with residency.load_target(1 * GIB, "cpu", "cpu") as target:
        assert target == "cpu"


def test_the_wrappers_loader_reads_an_offloaded_model_onto_a_card_with_room(card, tmp_path):
    """WanVideoModelLoader with ``load_device: offload_device`` puts the model where the
    sampler would move it first thing, when the card keeps half of itself free with it there;
    not under block swap, not with parts attached on the host, and never a model the node put
    on the main device itself (that one is already there)."""
    from types import SimpleNamespace

    from wfrun.packs.wanvideo.model_loader import load_place

    path = tmp_path / "model.safetensors"
    path.write_bytes(b"\0" * 1024)
    ctx = SimpleNamespace(device="cuda:0", offload_device="cpu")
    card["free"] = 100 * GIB
    with load_place(ctx, "cpu", path, (), direct=True) as where:
        assert where == "cuda:0"
    with load_place(ctx, "cpu", path, (), direct=False) as where:  # block swap, MultiTalk, FantasyTalking
        assert where == "cpu"
    with load_place(ctx, "cuda:0", path, (), direct=True) as where:
        assert where == "cuda:0"
    card["free"] = 60 * GIB  # under half of the 140 GiB card free: host memory, as the node asks
    with load_place(ctx, "cpu", path, (), direct=True) as where:
        assert where == "cpu"
    with residency.gpu_budget(20 * GIB):
        card["free"] = 140 * GIB
        with load_place(ctx, "cpu", path, (), direct=True) as where:
            assert where == "cpu"
