"""KJNodes' ColorMatch, checked by what each colour transfer guarantees: MKL gives the
reference's colour mean and covariance; histogram matching gives the reference's values
by rank; Reinhard gives the reference's lαβ means and deviations (the paper's matrices,
written out here); plus the pack's strength and batch rules."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError

CTX = ExecContext()


def _frames(n, seed, scale=1.0, shift=0.0, h=12, w=10):
    g = torch.Generator().manual_seed(seed)
    mix = torch.tensor([[1.0, 0.3, 0.1], [0.2, 1.0, 0.2], [0.1, 0.4, 1.0]]) / 1.4  # correlated channels
    return ((torch.rand(n, h, w, 3, generator=g) @ mix) * scale + shift).clamp(0, 1)


def _stats(image: torch.Tensor):
    px = image.reshape(-1, 3).double().numpy().T
    return px.mean(axis=1), np.cov(px)


@pytest.mark.parametrize("method", ["mkl", "mvgd"])  # the pack's ColorMatcher() uses MKL for mvgd too
def test_mkl_gives_the_reference_mean_and_covariance(method):
    target, ref = _frames(1, 0, 0.4, 0.3), _frames(1, 1, 0.3, 0.35)
    (out,) = node("ColorMatch")(CTX, image_ref=ref, image_target=target, method=method)
    assert 0 < float(out.min()) and float(out.max()) < 1  # nothing clamped, so the moments are exact
    mean_o, cov_o = _stats(out)
    mean_r, cov_r = _stats(ref)
    np.testing.assert_allclose(mean_o, mean_r, atol=1e-5)
    np.testing.assert_allclose(cov_o, cov_r, atol=1e-5)


def test_mkl_is_the_identity_for_a_frame_matched_to_itself():
    target = _frames(1, 2, 0.5, 0.2)
    (out,) = node("ColorMatch")(CTX, image_ref=target, image_target=target, method="mkl")
    torch.testing.assert_close(out, target, atol=1e-5, rtol=0)


def test_histogram_matching_gives_the_reference_values_by_rank():
    target, ref = _frames(1, 3, 0.8), _frames(1, 4, 0.5, 0.25)  # same size, distinct values (none clamped)
    (out,) = node("ColorMatch")(CTX, image_ref=ref, image_target=target, method="hm")
    for ch in range(3):
        t, r, o = (x[0, ..., ch].reshape(-1).double() for x in (target, ref, out))
        assert torch.allclose(o.sort().values, r.sort().values, atol=1e-6)
        assert torch.equal(o.argsort(), t.argsort())  # order kept: the brightest stays brightest


def _lab(image: torch.Tensor) -> np.ndarray:
    rgb = image.reshape(-1, 3).double().numpy().T
    lms = np.log10(np.array([[0.3811, 0.5783, 0.0402], [0.1967, 0.7244, 0.0782], [0.0241, 0.1288, 0.8444]]) @ rgb)
    return np.diag([3 ** -0.5, 6 ** -0.5, 2 ** -0.5]) @ np.array([[1, 1, 1], [1, 1, -2], [1, -1, 0]]) @ lms


def test_reinhard_gives_the_reference_lab_statistics():
    target, ref = _frames(1, 5, 0.4, 0.3), _frames(1, 6, 0.3, 0.4)
    (out,) = node("ColorMatch")(CTX, image_ref=ref, image_target=target, method="reinhard")
    assert 0 < float(out.min()) and float(out.max()) < 1
    lab_o, lab_r = _lab(out), _lab(ref)
    # the paper's printed inverse is rounded to 4 places, so the round trip is close, not exact
    np.testing.assert_allclose(lab_o.mean(axis=1), lab_r.mean(axis=1), atol=5e-3)
    np.testing.assert_allclose(lab_o.std(axis=1), lab_r.std(axis=1), rtol=5e-2)


def test_compound_is_histogram_matched_last():
    target, ref = _frames(1, 7, 0.8), _frames(1, 8, 0.5, 0.25)
    (out,) = node("ColorMatch")(CTX, image_ref=ref, image_target=target, method="hm-mkl-hm")
    for ch in range(3):
        assert torch.allclose(out[0, ..., ch].reshape(-1).sort().values, ref[0, ..., ch].reshape(-1).sort().values,
                              atol=1e-6)


def test_strength_blends_and_zero_returns_the_target():
    target, ref = _frames(1, 9, 0.4, 0.3), _frames(1, 10, 0.3, 0.4)
    (full,) = node("ColorMatch")(CTX, image_ref=ref, image_target=target, method="mkl", strength=1.0)
    (half,) = node("ColorMatch")(CTX, image_ref=ref, image_target=target, method="mkl", strength=0.5)
    torch.testing.assert_close(half, (target + 0.5 * (full - target)), atol=1e-6, rtol=0)
    (same,) = node("ColorMatch")(CTX, image_ref=ref, image_target=target, method="mkl", strength=0.0)
    assert same is target


def test_reference_frames_pair_with_target_frames():
    target, ref = _frames(3, 11, 0.4, 0.3), _frames(3, 12, 0.3, 0.35)
    (out,) = node("ColorMatch")(CTX, image_ref=ref, image_target=target, method="mkl")
    np.testing.assert_allclose(_stats(out[2:])[0], _stats(ref[2:])[0], atol=1e-5)
    (first,) = node("ColorMatch")(CTX, image_ref=ref, image_target=target, method="mkl", use_only_first=True)
    np.testing.assert_allclose(_stats(first[2:])[0], _stats(ref[:1])[0], atol=1e-5)
    with pytest.raises(NodeInputError) as err:
        node("ColorMatch")(CTX, image_ref=ref[:2], image_target=target, method="mkl")
    assert err.value.input_name == "image_ref"


def test_a_flat_frame_is_kept():
    flat = torch.full((1, 6, 6, 3), 0.5)
    (out,) = node("ColorMatch")(CTX, image_ref=_frames(1, 13), image_target=flat, method="reinhard")
    assert torch.equal(out, flat)


# --- ColorMatchV2 --------------------------------------------------------------------------------

def test_v2_repeats_the_last_reference_frame_and_equals_v1_per_frame():
    target, ref = _frames(3, 21, 0.4, 0.3), _frames(2, 22, 0.3, 0.35)
    (out,) = node("ColorMatchV2")(CTX, image_target=target, image_ref=ref, method="hm-mkl-hm", strength=0.8)
    for i, r in ((0, 0), (1, 1), (2, 1)):  # the pack: reference frame min(i, frames - 1)
        (one,) = node("ColorMatch")(CTX, image_ref=ref[r:r + 1], image_target=target[i:i + 1], method="hm-mkl-hm",
                                    strength=0.8)
        torch.testing.assert_close(out[i:i + 1], one, rtol=0, atol=0)
    (same,) = node("ColorMatchV2")(CTX, image_target=target, image_ref=ref, method="mkl", strength=0.0)
    assert same is target
    with pytest.raises(NodeInputError) as err:
        node("ColorMatchV2")(CTX, image_target=target, image_ref=ref, method="lab", strength=1.0)
    assert err.value.input_name == "method"


@pytest.mark.parametrize("refs", [1, 3])
def test_v2_reinhard_lab_is_the_pack_s_kornia_formula(refs):
    import kornia

    target, ref = _frames(3, 23, 0.5, 0.2), _frames(refs, 24, 0.3, 0.4)
    strength = 0.7
    # the pack's reinhard_lab_gpu, written out with kornia (what it calls)
    src, reference = target.permute(0, 3, 1, 2), ref.permute(0, 3, 1, 2)
    s_lab, r_lab = kornia.color.rgb_to_lab(src).flatten(2), kornia.color.rgb_to_lab(reference).flatten(2)
    s_std, s_mean = torch.std_mean(s_lab, dim=-1, keepdim=True, unbiased=False)
    r_std, r_mean = torch.std_mean(r_lab, dim=-1, keepdim=True, unbiased=False)
    mapped = kornia.color.lab_to_rgb(((s_lab - s_mean) * (r_std / s_std.clamp_min(1e-6)) + r_mean).view(src.shape))
    expected = ((1 - strength) * src + strength * mapped).permute(0, 2, 3, 1).clamp(0, 1)
    (out,) = node("ColorMatchV2")(CTX, image_target=target, image_ref=ref, method="reinhard_lab_gpu",
                                  strength=strength)
    torch.testing.assert_close(out, expected, rtol=0, atol=2e-5)
