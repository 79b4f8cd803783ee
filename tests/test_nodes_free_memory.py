"""ComfyUI-FreeMemory's nodes hand their input on unchanged (wfrun frees memory itself)."""

from __future__ import annotations

import pytest

from node_helpers import node
from wfrun.nodes.executor import ExecContext

CTX = ExecContext()


@pytest.mark.parametrize("class_type,name", [("FreeMemoryImage", "image"), ("FreeMemoryLatent", "latent"),
                                             ("FreeMemoryModel", "model"), ("FreeMemoryCLIP", "clip"),
                                             ("FreeMemoryString", "string")])
def test_free_memory_nodes_pass_their_input_on(class_type, name):
    value = object()
    assert node(class_type)(CTX, aggressive=True, **{name: value})[0] is value
