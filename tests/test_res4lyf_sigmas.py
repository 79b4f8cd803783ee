"""RES4LYF's sigma nodes (Linear Quadratic Advanced, Sigmas Split Value, Sigmas Resample,
Sigmas Rescale), each against values worked out by hand from the pack's code, its quirks
included."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from wfrun.engine.executors import get_executor
from wfrun.models.handles import CoreModel
from wfrun.nodes.executor import ExecContext, NodeInputError


def run(class_type, **inputs):
    return get_executor(class_type)(ExecContext(), **inputs)


# --- Sigmas Split Value --------------------------------------------------------------------------

S = torch.tensor([1.0, 0.9, 0.75, 0.5, 0.2, 0.0], dtype=torch.float64)


def split(sigmas, value, up):
    return [t.tolist() for t in run("Sigmas Split Value", sigmas=sigmas, split_value=value, bias_split_up=up)]


def test_split_below_value_shares_the_boundary_sigma():
    # first sigma < 0.75 is 0.5 (index 3): high = [:3], low = [2:]
    assert split(S, 0.75, False) == [[1.0, 0.9, 0.75], [0.75, 0.5, 0.2, 0.0]]


def test_split_biased_up_keeps_the_value_in_both():
    # first sigma <= 0.75 is 0.75 itself (index 2): high = [:3], low = [2:]
    assert split(S, 0.75, True) == [[1.0, 0.9, 0.75], [0.75, 0.5, 0.2, 0.0]]
    assert split(S, 0.8, True) == [[1.0, 0.9, 0.75], [0.75, 0.5, 0.2, 0.0]]
    assert split(S, 0.8, False) == [[1.0, 0.9], [0.9, 0.75, 0.5, 0.2, 0.0]]


def test_split_compares_in_the_schedules_dtype():
    # 0.9 in float32 is 0.89999998; the pack's tensor comparison meets 0.9 as float32 too
    high, low = run("Sigmas Split Value", sigmas=S.float(), split_value=0.9, bias_split_up=False)
    assert len(high) == 2 and len(low) == 5


def test_split_edge_cases_as_the_pack_has_them():
    high = torch.tensor([3.0, 2.0, 1.0])
    assert split(high, 0.5, False) == [[], [3.0, 2.0, 1.0]]  # none below: all comes back as low
    assert split(high, 0.5, True) == [[3.0, 2.0, 1.0], []]
    assert split(high, 5.0, False) == [[], [1.0]]  # first already below: slice from -1
    assert split(torch.tensor([]), 0.5, False) == [[], []]


# --- Sigmas Rescale ----------------------------------------------------------------------------

def test_rescale_maps_max_to_start_and_min_to_end():
    (out,) = run("Sigmas Rescale", start=0.75, end=0.0, sigmas=torch.tensor([1.0, 0.5, 0.0]))
    torch.testing.assert_close(out, torch.tensor([0.75, 0.375, 0.0]))
    (flipped,) = run("Sigmas Rescale", start=0.0, end=1.0, sigmas=torch.tensor([0.8, 0.6, 0.2]))
    # (s - 0.2) * (0 - 1) / 0.6 + 1
    torch.testing.assert_close(flipped, torch.tensor([0.0, 1 / 3, 1.0]))


def test_rescale_of_a_constant_schedule_is_refused():
    with pytest.raises(NodeInputError) as err:
        run("Sigmas Rescale", start=1.0, end=0.0, sigmas=torch.tensor([0.5, 0.5]))
    assert err.value.input_name == "sigmas"


# --- Sigmas Resample ---------------------------------------------------------------------------

def resample(sigmas, length, mode, order=8, rescale_after=False):
    return run("Sigmas Resample", sigmas_in=sigmas, output_length=length, mode=mode, order=order,
               rescale_after=rescale_after)[0]


def test_linear_uses_half_pixel_centres():
    # 3 -> 2 points: source positions (i + 0.5) * 3/2 - 0.5 = 0.25, 1.75
    out = resample(torch.tensor([1.0, 0.5, 0.0]), 2, "linear")
    torch.testing.assert_close(out, torch.tensor([0.875, 0.125]))
    # 4 -> 3: positions 1/6, 3/2, 17/6 on [1, 0.6, 0.3, 0]
    out = resample(torch.tensor([1.0, 0.6, 0.3, 0.0]), 3, "linear")
    torch.testing.assert_close(out, torch.tensor([1 - 0.4 / 6, 0.45, 0.3 - 0.3 * 5 / 6]))


def test_rescale_after_puts_the_ends_back():
    out = resample(torch.tensor([1.0, 0.6, 0.3, 0.0]), 3, "linear", rescale_after=True)
    lo, hi = 0.3 - 0.3 * 5 / 6, 1 - 0.4 / 6
    torch.testing.assert_close(out, torch.tensor([1.0, (0.45 - lo) / (hi - lo), 0.0]))


def test_exponential_is_geometric_between_the_ends():
    out = resample(torch.tensor([1.0, 0.1, 0.01]), 5, "exponential")
    torch.testing.assert_close(out, torch.tensor([1.0, 10 ** -0.5, 0.1, 10 ** -1.5, 0.01]))


def test_nearest_takes_the_first_source_point_at_or_after_each_target():
    # sources at 0, .5, 1; targets 0, .25, .5, .75, 1 -> indices 0, 1, 1, 2, 2
    out = resample(torch.tensor([3.0, 2.0, 1.0]), 5, "nearest")
    assert out.tolist() == [3.0, 2.0, 2.0, 1.0, 1.0]


def test_polynomial_and_power_fits():
    line = torch.tensor([1.0, 0.75, 0.5, 0.25], dtype=torch.float64)
    torch.testing.assert_close(resample(line, 3, "polynomial", order=1), torch.tensor([1.0, 0.625, 0.25],
                                                                                     dtype=torch.float64))
    steps = np.arange(1, 5, dtype=np.float64)
    power = torch.tensor(2.0 * steps ** -0.7)
    expected = 2.0 * np.linspace(1, 4, 7) ** -0.7
    np.testing.assert_allclose(resample(power, 7, "power").numpy(), expected, rtol=1e-10)


@pytest.mark.parametrize("changes,name", [
    ({"mode": "model"}, "mode"),
    ({"sigmas_in": torch.tensor([1.0])}, "sigmas_in"),
    ({"mode": "exponential", "sigmas_in": torch.tensor([1.0, 0.0])}, "sigmas_in"),
    ({"output_length": 0}, "output_length"),
])
def test_resample_refusals(changes, name):
    inputs = {"sigmas_in": torch.tensor([1.0, 0.5, 0.0]), "output_length": 3, "mode": "linear", "order": 8,
              "rescale_after": True, **changes}
    with pytest.raises(NodeInputError) as err:
        run("Sigmas Resample", **inputs)
    assert err.value.input_name == name


# --- Linear Quadratic Advanced -------------------------------------------------------------------

def model(shift=12.0):
    return CoreModel(transformer=None, task="t2v", path=Path("tiny.safetensors"), dtype=torch.float32,
                     latent_channels=16, shift=shift)


def lq(**kw):
    values = {"steps": 4, "denoise": 1.0, "inflection_percent": 0.5, "threshold_noise": 0.2, **kw}
    return run("Linear Quadratic Advanced", model=model(), **values)[0]


def test_linear_quadratic_by_hand():
    # 4 steps, 2 linear to 0.2: linear part [0, 0.1]; quadratic: step_diff = 2 - 0.8 = 1.2,
    # quad = 1.2 / (2 * 2^2) = 0.15, lin = 0.2/2 - 2*1.2/2^2 = -0.5, const = 0.15 * 4 = 0.6;
    # i = 2: 0.6 - 1 + 0.6 = 0.2; i = 3: 1.35 - 1.5 + 0.6 = 0.45; sigmas = 1 - [..., 1]
    torch.testing.assert_close(lq(), torch.tensor([1.0, 0.9, 0.8, 0.55, 0.0]))


def test_linear_quadratic_ignores_shift_and_takes_the_tail_for_denoise():
    assert torch.equal(run("Linear Quadratic Advanced", model=model(1.0), steps=4, denoise=1.0,
                           inflection_percent=0.5, threshold_noise=0.2)[0], lq())
    tail = lq(denoise=0.5)  # 8 steps, 4 linear to 0.2, last 5 sigmas
    full = lq(steps=8)
    assert torch.equal(tail, full[-5:]) and len(tail) == 5
    # the linear part of the 8-step schedule: 1 - i * 0.2 / 4
    torch.testing.assert_close(full[:4], torch.tensor([1.0 - i * 0.05 for i in range(4)]))
    assert math.isclose(float(full[4]), 0.8, rel_tol=1e-6)


@pytest.mark.parametrize("changes,name", [({"denoise": 0.0}, "denoise"), ({"inflection_percent": 0.0},
                                          "inflection_percent"), ({"inflection_percent": 1.0}, "inflection_percent")])
def test_linear_quadratic_refusals(changes, name):
    with pytest.raises(NodeInputError) as err:
        lq(**changes)
    assert err.value.input_name == name


def test_linear_quadratic_before_threshold_was_an_input_uses_0025():
    """A file saved before ``threshold_noise`` existed: the engine fills it from the spec
    (the saved signature's defaults, then the newest's), which must be the 0.025 the pack
    hard-coded then."""
    from wfrun.engine.run import _with_defaults
    from wfrun.graph.model import NodeInstance
    from wfrun.packs.res4lyf.sigmas import OLD_THRESHOLD_NOISE
    from wfrun.specs.registry import default_registry

    spec = default_registry().get("Linear Quadratic Advanced")
    before = next(sig for sig in spec.signatures if sig.input("threshold_noise") is None)
    node = NodeInstance(id="1", class_type=spec.class_type, spec=spec, signature=before,
                        inputs={"steps": 4, "denoise": 1.0, "inflection_percent": 0.5})
    filled = _with_defaults(node)
    assert filled["threshold_noise"] == OLD_THRESHOLD_NOISE == 0.025
    old = run("Linear Quadratic Advanced", model=model(), **filled)[0]
    assert torch.equal(old, lq(threshold_noise=0.025))
    # 2 linear steps to 0.025: 1 - [0, 0.0125]
    torch.testing.assert_close(old[:2], torch.tensor([1.0, 0.9875]))
