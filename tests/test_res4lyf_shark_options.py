"""RES4LYF's SharkOptions_Beta and ClownOptions_SwapSampler_Beta, and the merging of several
OPTIONS inputs into ClownsharKSampler_Beta: what the sampler honours (the starting noise's
scale; a swap the run never reaches) and what it refuses, by name."""

from __future__ import annotations

import pytest
import torch

from node_helpers import spec_defaults
from res4lyf_nodes import clown as shared_clown, cond, ctx, empty_latent, model  # noqa: F401 (fixtures)
from wfrun.engine.executors import get_executor
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.res4lyf.clownshark import start_noise
from wfrun.packs.res4lyf.shark_options import merge_options


def shark(**changes):
    values = {**spec_defaults("SharkOptions_Beta"), **changes}
    return get_executor("SharkOptions_Beta")(ExecContext(), **values)[0]


def swap(**changes):
    values = {**spec_defaults("ClownOptions_SwapSampler_Beta"), "sampler_name": "multistep/res_3m", **changes}
    return get_executor("ClownOptions_SwapSampler_Beta")(ExecContext(), **values)[0]


def test_shark_options_write_the_packs_keys():
    out = shark(s_noise_init=0.5, options={"earlier": 1})
    assert out == {"earlier": 1, "noise_type_init": "gaussian", "noise_init_stdev": 0.5, "denoise_alt": 1.0,
                   "channelwise_cfg": False}
    assert shark(s_noise_init=None, noise_stdev=0.25)["noise_init_stdev"] == 0.25  # the pre-2025-04 input


@pytest.mark.parametrize("changes,name", [
    ({"noise_type_init": "brownian"}, "noise_type_init"),
    ({"denoise_alt": 0.9}, "denoise_alt"),
    ({"channelwise_cfg": True}, "channelwise_cfg"),
    ({"sigmas": torch.ones(3)}, "sigmas"),
    ({"sampler_mode": "unsample"}, "sampler_mode"),
])
def test_shark_options_refused_by_name(changes, name):
    with pytest.raises(NodeInputError) as err:
        shark(**changes)
    assert err.value.input_name == name


def test_swap_options_write_the_81fe5f4d_keys_and_refuse_error_swaps():
    assert swap(swap_at_step=20) == {"rk_swap_type": "res_3m", "rk_swap_step": 20, "rk_swap_threshold": 0.0,
                                     "rk_swap_print": False}
    with pytest.raises(NodeInputError) as err:
        swap(swap_below_err=0.1)
    assert err.value.input_name == "swap_below_err"


def test_merge_later_options_win_and_extra_texts_join():
    merged = merge_options({"a": 1, "extra_options": "x"}, {"options 2": {"a": 2, "extra_options": "y"},
                                                             "options 3": None, "seed": 5})
    assert merged == {"a": 2, "extra_options": "x\ny"}
    assert merge_options(None, {"options 2": {"b": 1}}) == {"b": 1}
    assert merge_options(None, {}) is None


def test_start_noise_scale_multiplies_the_normalised_noise():
    latent = torch.zeros(1, 16, 2, 4, 6)
    plain = start_noise(latent, 5)
    torch.testing.assert_close(start_noise(latent, 5, scale=0.5), 0.5 * plain, rtol=0, atol=1e-12)
    assert not start_noise(latent, 5, scale=0.0).any()


# --- through ClownsharKSampler_Beta -----------------------------------------------------------


def clown(ctx, model, cond, **changes):
    return shared_clown(ctx, model, cond, empty_latent(ctx), **{"steps": 4, "eta": 0.0, **changes})


def test_neutral_shark_and_unreached_swap_change_nothing(ctx, model, cond):
    plain, _, _ = clown(ctx, model, cond)
    both, _, written = clown(ctx, model, cond, options=shark(), **{"options 2": swap(swap_at_step=20)})
    assert torch.equal(both["samples"], plain["samples"])
    assert written["rk_swap_step"] == 20
    # swapping to the sampler already in use changes nothing either
    same, _, _ = clown(ctx, model, cond, sampler_name="multistep/res_3m", options=swap(swap_at_step=1))
    ref, _, _ = clown(ctx, model, cond, sampler_name="multistep/res_3m")
    assert torch.equal(same["samples"], ref["samples"])


def test_noise_scale_reaches_the_start_noise(ctx, model, cond):
    plain, _, _ = clown(ctx, model, cond)
    scaled, _, _ = clown(ctx, model, cond, options=shark(s_noise_init=0.5))
    assert not torch.allclose(scaled["samples"], plain["samples"])


def test_a_reached_swap_and_options_2_are_refused_or_read(ctx, model, cond):
    with pytest.raises(NodeInputError) as err:  # 4 steps: indices 0..3, a swap after step 1
        clown(ctx, model, cond, options=swap(swap_at_step=1))
    assert err.value.input_name == "options"
    with pytest.raises(NodeInputError) as err:  # a second options socket is read, not dropped
        clown(ctx, model, cond, **{"options 2": {"implicit_steps": 2}})
    assert err.value.input_name == "options"
