"""``models.meta_init.empty_weights``: parameters made on the thread that opened it are on
``meta``; a module built on another thread meanwhile keeps real weights; the hook is back
as it was afterwards, also after a failure."""

from __future__ import annotations

import threading

import pytest
import torch
from torch import nn

from wfrun.models.meta_init import empty_weights


def test_only_the_opening_thread_builds_on_meta():
    inside, other = threading.Event(), {}
    release = threading.Event()

    def build_elsewhere():
        inside.wait(timeout=30)
        other["module"] = nn.Linear(4, 4)  # while the main thread's block is open
        release.set()

    worker = threading.Thread(target=build_elsewhere)
    worker.start()
    with empty_weights():
        empty = nn.Linear(4, 4)
        inside.set()
        assert release.wait(timeout=30)
        nested = nn.Sequential(nn.Linear(2, 2))
    worker.join()
    assert empty.weight.is_meta and empty.bias.is_meta and nested[0].weight.is_meta
    assert not other["module"].weight.is_meta and torch.isfinite(other["module"].weight).all()
    assert not nn.Linear(2, 2).weight.is_meta  # the hook is restored


def test_the_hook_is_restored_after_a_failure():
    original = nn.Module.register_parameter
    with pytest.raises(RuntimeError):
        with empty_weights():
            raise RuntimeError("build failed")
    assert nn.Module.register_parameter is original
    with empty_weights():
        with empty_weights():  # nested on one thread
            inner = nn.Linear(2, 2)
    assert inner.weight.is_meta and nn.Module.register_parameter is original
