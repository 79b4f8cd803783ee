"""Easy-Use's cleanGpuUsed: a pass-through here."""

from __future__ import annotations

import pytest
import torch

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError


def test_clean_gpu_used_passes_anything_on():
    image = torch.rand(2, 4, 4, 3)
    assert node("easy cleanGpuUsed")(ExecContext(), anything=image)[0] is image
    assert node("easy cleanGpuUsed")(ExecContext(), anything=None) == (None,)


def test_clean_gpu_used_needs_its_input():
    with pytest.raises(NodeInputError) as err:
        node("easy cleanGpuUsed")(ExecContext())
    assert err.value.input_name == "anything"
