"""Crystools pipes, Unload-Model, LayerStyle AddGrain / PurgeVRAM V2, the refusal of
IFGeminiNode (a network API node); FizzNodes' batch schedules are in test_nodes_fizznodes.py."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from scipy.ndimage import correlate1d
from torch import nn

from wfrun.cli import main
from wfrun.nodes.executor import ExecContext, NodeInputError, registered
from wfrun.packs.layerstyle import grain as grain_mod
from wfrun.packs.unload_model.nodes import modules_in

from wfrun.engine.executors import load_packs

load_packs()

CTX = ExecContext()


# --- Crystools pipes -------------------------------------------------------------------

def test_pipe_to_then_from_carries_six_values_and_edits_replace_only_connected_ones():
    to_pipe, from_pipe = registered("Pipe to/edit any [Crystools]"), registered("Pipe from any [Crystools]")
    image = torch.rand(1, 4, 4, 3)
    (pipe,) = to_pipe(CTX, any_1=image, any_2="text", any_4=7)
    assert pipe[0] is image and pipe[1:] == ["text", None, 7, None, None]
    (edited,) = to_pipe(CTX, CPipeAny=pipe, any_2="other", any_6=1.5)
    assert edited[0] is image and edited[1:] == ["other", None, 7, None, 1.5]
    assert pipe[1] == "text"  # the incoming pipe is not changed
    out = from_pipe(CTX, CPipeAny=edited)
    assert out[0] is edited and list(out[1:]) == edited


def test_pipe_from_refuses_what_is_not_a_pipe():
    with pytest.raises(NodeInputError) as err:
        registered("Pipe from any [Crystools]")(CTX, CPipeAny=[1, 2])
    assert err.value.input_name == "CPipeAny"


# --- Unload-Model ------------------------------------------------------------------------

def test_unload_model_passes_value_on_and_finds_the_models_modules():
    value = torch.arange(3)
    linear = nn.Linear(2, 2)
    (out,) = registered("UnloadModel")(CTX, value=value, model={"model": linear})
    assert out is value
    found = list(modules_in({"model": linear, "more": [linear]}))
    assert found == [linear, linear]
    assert list(modules_in("a string")) == []
    (all_out,) = registered("UnloadAllModels")(CTX, value="x")
    assert all_out == "x"


def test_purge_vram_v2_passes_anything_on():
    value = {"samples": torch.zeros(1)}
    for purge_models in (True, False):
        (out,) = registered("LayerUtility: PurgeVRAM V2")(CTX, anything=value, purge_cache=True,
                                                           purge_models=purge_models)
        assert out is value


# --- LayerStyle AddGrain: the pack's formula written out --------------------------------

def cv_kernel(size):
    """cv2.getGaussianKernel(size, 0): the binomial table up to 7, else sigma from the size."""
    if size == 3:
        return np.array([0.25, 0.5, 0.25])
    sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8
    x = np.arange(size) - (size - 1) / 2
    k = np.exp(-x * x / (2 * sigma * sigma))
    return k / k.sum()


def reference_grain(frame_u8, scale, power, sat, seed):
    """image_add_grain of the pack, in float64 numpy with scipy's mirror border (OpenCV's
    BORDER_REFLECT_101) for the blur; torch only for the seeded noise and the bilinear resize."""
    t = frame_u8.astype(np.float64) / 255.0
    h, w = t.shape[:2]
    torch.manual_seed(seed)
    g = torch.rand(1, int(h // scale), int(w // scale), 3)[0].double().numpy()
    y = 0.2123 * g[..., 0] + 0.7152 * g[..., 1] + 0.0722 * g[..., 2]
    cb = -0.1146 * g[..., 0] - 0.3854 * g[..., 1] + 0.5 * g[..., 2]
    cr = 0.5 * g[..., 0] - 0.4542 * g[..., 1] - 0.0458 * g[..., 2]

    def blur(c, size):
        k = cv_kernel(size)
        return correlate1d(correlate1d(c, k, axis=1, mode="mirror"), k, axis=0, mode="mirror")

    y, cb, cr = blur(y, 3), blur(cb, 15), blur(cr, 11)
    rgb = np.stack([y + 1.5748 * cr, y - 0.1873 * cb - 0.4681 * cr, y + 1.8556 * cb], -1)
    gr = (rgb - 0.5) * power
    gr[..., 0] *= 2
    gr[..., 2] *= 3
    gr += 1
    gr = gr * sat + gr[..., 1:2] * (1 - sat)
    gr = torch.nn.functional.interpolate(torch.from_numpy(gr).permute(2, 0, 1)[None], size=(h, w),
                                         mode="bilinear")[0].permute(1, 2, 0).numpy()
    out = np.clip(1 - (1 - t) * gr, 0, 1)
    return np.clip(255.0 * out, 0, 255)


def test_opencv_kernel_and_border_rules():
    assert np.allclose(grain_mod.gaussian_kernel(15), cv_kernel(15), atol=1e-7)
    assert grain_mod.gaussian_kernel(3).tolist() == [0.25, 0.5, 0.25]
    assert grain_mod.reflect101(np.array([-2, -1, 0, 4, 5, 6]), 5).tolist() == [2, 1, 0, 4, 3, 2]
    img = np.random.default_rng(0).random((5, 9)).astype(np.float32)  # smaller than the 15 kernel
    ref = correlate1d(correlate1d(img.astype(np.float64), cv_kernel(15), axis=1, mode="mirror"),
                      cv_kernel(15), axis=0, mode="mirror")
    assert np.allclose(grain_mod.gaussian_blur(img, 15), ref, atol=1e-6)


@pytest.mark.parametrize("scale,power,sat", [(0.5, 0.05, 0.5), (1.0, 0.5, 1.0), (2.5, 1.0, 0.0)])
def test_add_grain_matches_the_pack_formula_with_time_seeds(monkeypatch, scale, power, sat):
    monkeypatch.setattr(grain_mod.time, "time", lambda: 1_700_000_000.7)
    rng = np.random.default_rng(1)
    image = torch.from_numpy(rng.random((3, 20, 28, 3)).astype(np.float32))
    (out,) = registered("LayerFilter: AddGrain")(CTX, image=image, grain_power=power, grain_scale=scale,
                                                 grain_sat=sat)
    assert out.shape == image.shape and out.dtype == torch.float32
    for i in range(3):
        frame_u8 = np.clip(255.0 * image[i].numpy(), 0, 255).astype(np.uint8)
        ref = reference_grain(frame_u8, scale, power, sat, 1_700_000_000 + i)
        got = out[i].numpy() * 255.0
        assert np.allclose(got, np.round(got))  # whole 8-bit levels
        # truncation: equal levels except where the float result sits within rounding of a level
        diff = np.abs(got - np.floor(ref))
        assert diff.max() <= 1 and (diff > 0).mean() < 0.01
    assert not torch.equal(out[0], out[1]) or power == 0


def test_add_grain_refuses_values_outside_the_pack_ranges():
    with pytest.raises(NodeInputError) as err:
        registered("LayerFilter: AddGrain")(CTX, image=torch.rand(1, 8, 8, 3), grain_power=0.5, grain_scale=0.01,
                                            grain_sat=1.0)
    assert err.value.input_name == "grain_scale"


# --- IFGeminiNode: refused before anything loads -----------------------------------------

def _gemini_workflow(tmp_path):
    prompt = {
        "1": {"class_type": "IFGeminiNode", "inputs": {
            "prompt": "describe", "operation_mode": "generate_text", "model_name": "gemini-2.5-flash",
            "temperature": 1.0, "seed": 0, "sequential_generation": False, "batch_count": 1,
            "aspect_ratio": "none", "api_provider": "auto", "external_api_key": "", "chat_mode": False,
            "clear_history": False, "structured_output": False, "max_images": 6, "max_output_tokens": 8192,
            "use_random_seed": False, "api_call_delay": 1.0}},
        "2": {"class_type": "ShowText|pysssss", "inputs": {"text": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["1", 1], "filename_prefix": "x"}},
    }
    path = tmp_path / "gemini.json"
    path.write_text(json.dumps(prompt))
    return path


def test_gemini_node_is_refused_as_a_network_api_node(tmp_path):
    path = _gemini_workflow(tmp_path)
    result = CliRunner().invoke(main, ["run", str(path), "--smoke", "--tiny-models", "-o", str(tmp_path / "out")],
                                env={"WFRUN_CACHE": str(tmp_path / "cache")})
    assert result.exit_code == 1, result.output
    assert "IFGeminiNode" in result.output
    assert "calls Google's Gemini API over the network" in result.output
    assert "replace such a node's text output with a text node" in result.output
    assert "nothing was loaded" in result.output
    assert "Traceback" not in result.output
