"""Where the step caches keep their tensors (wfrun.sampling.cache_store): copies that do
not alias, and the card's room decides like a force_offload'd model's (residency)."""

from __future__ import annotations

import torch

from wfrun.models import residency
from wfrun.sampling import cache_store

GIB = 2**30


class CudaLike:
    """What stays_on_device reads of a tensor: its device and size (no GPU on CI)."""

    def __init__(self, nbytes: int):
        self.device = torch.device("cuda", 0)
        self._n = nbytes

    def numel(self) -> int:
        return self._n // 4

    def element_size(self) -> int:
        return 4


def test_a_kept_copy_does_not_follow_later_changes_in_place():
    x = torch.arange(12.0).view(3, 4)
    kept = cache_store.keep(x, "cpu")
    x.mul_(-1)
    assert torch.equal(kept, torch.arange(12.0).view(3, 4))
    assert kept.data_ptr() != x.data_ptr()


def test_an_owned_result_is_kept_as_it_is_where_it_may_stay():
    residual = torch.randn(2, 5)
    assert cache_store.keep(residual, "cpu", owned=True) is residual


def test_tensors_on_the_cpu_never_count_as_on_a_card(monkeypatch):
    monkeypatch.setattr(residency, "free_memory", lambda device: (10**15, 10**15))
    assert not cache_store.stays_on_device(torch.zeros(3))


def test_a_card_with_room_keeps_the_copy_one_that_would_fill_does_not(monkeypatch):
    residual = CudaLike(int(0.7 * GIB))  # the 14B end-frame job's 34,320 x 5,120 fp32 tokens
    monkeypatch.setattr(residency, "free_memory", lambda device: (120 * GIB, 140 * GIB))  # an H200 with a 14B model
    assert cache_store.stays_on_device(residual)
    monkeypatch.setattr(residency, "free_memory", lambda device: (6 * GIB, 24 * GIB))  # a 24 GiB card, same job
    assert not cache_store.stays_on_device(residual)
    # the boundary is the share a force_offload'd model leaves free
    total = 100 * GIB
    edge = int(residency.KEEP_FREE_SHARE * total) + int(0.7 * GIB)
    monkeypatch.setattr(residency, "free_memory", lambda device: (edge, total))
    assert cache_store.stays_on_device(residual)
    monkeypatch.setattr(residency, "free_memory", lambda device: (edge - 4096, total))
    assert not cache_store.stays_on_device(residual)
