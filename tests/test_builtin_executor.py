"""Packs reach wfrun's own executors of other node types through the registry
(``nodes.executor.builtin_executor``): the registered function, or, on a broken install,
the calling node's input named in a NodeInputError instead of a crash."""

from __future__ import annotations

import pytest

from wfrun.engine.executors import load_packs
from wfrun.nodes import executor as registry_module
from wfrun.nodes.executor import NodeInputError, builtin_executor, registered


def test_a_shipped_node_type_gives_its_registered_function():
    load_packs()
    assert builtin_executor("VAEEncode", "vae") is registered("VAEEncode")
    assert builtin_executor("WanVideoSampler", "model") is registered("WanVideoSampler")


def test_a_missing_one_names_the_calling_nodes_input(monkeypatch):
    load_packs()
    table = dict(registry_module._EXECUTORS)
    table.pop("VAEEncode")
    monkeypatch.setattr(registry_module, "_EXECUTORS", table)
    with pytest.raises(NodeInputError) as err:
        builtin_executor("VAEEncode", "vae")
    assert err.value.input_name == "vae" and "VAEEncode is not available" in str(err.value)
