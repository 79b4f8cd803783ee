"""The collector kept off what imports made (``wfrun.long_lived``): in wfrun's own process
each site freezes once, an import block runs with collections held off, and a program that
imports wfrun as a library keeps its collector untouched."""

from __future__ import annotations

import gc

import pytest

from wfrun import long_lived


@pytest.fixture
def fresh(monkeypatch):
    monkeypatch.setattr(long_lived, "_DONE", set())
    monkeypatch.setattr(long_lived, "_OWNED", False)
    yield
    gc.unfreeze()
    gc.enable()


def test_a_library_user_keeps_its_collector(fresh):
    before = gc.get_freeze_count()
    long_lived.freeze_once("job start")
    with long_lived.imports_then_freeze("model libraries"):
        assert gc.isenabled()
    assert gc.get_freeze_count() == before


def test_in_wfruns_process_each_site_freezes_once(fresh):
    long_lived.own_process()
    kept = [object() for _ in range(1000)]  # objects that exist now end up frozen
    long_lived.freeze_once("job start")
    frozen = gc.get_freeze_count()
    assert frozen >= len(kept)
    made_later = [[i] for i in range(1000)]
    long_lived.freeze_once("job start")  # a further seed: its models would exist by now
    assert gc.get_freeze_count() == frozen and made_later


def test_an_import_block_runs_without_collections_and_is_frozen_after(fresh):
    long_lived.own_process()
    with long_lived.imports_then_freeze("model libraries"):
        assert not gc.isenabled()
        made = [{"n": i} for i in range(1000)]
    assert gc.isenabled() and gc.get_freeze_count() >= len(made)
    frozen = gc.get_freeze_count()
    with long_lived.imports_then_freeze("model libraries"):  # the second time: nothing held, nothing frozen
        assert gc.isenabled()
        more = [{"n": i} for i in range(1000)]
    assert gc.get_freeze_count() == frozen and more
    gc.disable()
    with long_lived.imports_then_freeze("other"):
        pass
    assert not gc.isenabled()  # a collector the caller had off stays off
