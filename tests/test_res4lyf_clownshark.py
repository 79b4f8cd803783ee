"""RES4LYF's ClownOptions_DetailBoost_Beta: neutral settings pass, others are refused by name."""

from __future__ import annotations

import pytest

from node_helpers import spec_defaults
from wfrun.engine.executors import get_executor
from wfrun.nodes.executor import ExecContext, NodeInputError


def boost(**changes):
    values = {**spec_defaults("ClownOptions_DetailBoost_Beta"), **changes}
    return get_executor("ClownOptions_DetailBoost_Beta")(ExecContext(), **values)


def test_neutral_weight_passes_and_keeps_earlier_options():
    (options,) = boost(weight=0.0, options={"earlier": 1})
    assert options["earlier"] == 1
    assert options["detail_boost"]["weight"] == 0.0


@pytest.mark.parametrize("weight", [20.0, -1.0, 1.0])
def test_non_neutral_weight_is_refused_naming_weight(weight):
    with pytest.raises(NodeInputError) as err:
        boost(weight=weight)
    assert err.value.input_name == "weight"


def test_weight_schedule_is_refused_naming_weights():
    import torch
    with pytest.raises(NodeInputError) as err:
        boost(weight=0.0, weights=torch.ones(3))
    assert err.value.input_name == "weights"
