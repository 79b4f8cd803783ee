"""ComfyUI-Upscaler-Tensorrt (dfc2665, 2026-01-12) without TensorRT: the pack's output size
rules worked out by hand from its ``get_final_resolutions``; the network run from the
PyTorch release found by the pack's model name, against the published RRDBNet written out in
plain functional torch (``test_upscale_native.reference_rrdb``), unclamped as the exported
module is; refusals (no file, wrong scale, sizes the engine does not take, the first layout);
and a ``--smoke`` run of a small workflow (stand-in by the bare model name, images scaled
into the engine's 256..1280 px)."""

from __future__ import annotations

import json
import sys

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from PIL import Image

from node_helpers import node
from test_upscale_native import reference_rrdb
from wfrun.cli import main
from wfrun.models.paths import ModelRoots
from wfrun.models.tiny_upscale import save_weights, tiny_esrgan_state_dict
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.upscaler_tensorrt import nodes as trt_nodes
from wfrun.packs.upscaler_tensorrt.sizes import final_size


@pytest.fixture(autouse=True)
def no_spandrel(monkeypatch):
    """wfrun's own RRDBNet, as on a base install (spandrel builds the same network)."""
    monkeypatch.setitem(sys.modules, "spandrel", None)


@pytest.mark.parametrize("w,h,resize_to,expected", [
    (300, 400, "none", (1200, 1600)),      # the network's own 4x size
    (400, 300, "4x", (1600, 1200)),
    (333, 300, "1.5x", (499, 450)),        # 499.5 cut off, as int() does
    (400, 300, "2x", (800, 600)),
    (300, 256, "10x", (3000, 2560)),
    (768, 512, "2k", (2560, 1440)),        # landscape fixed size
    (512, 768, "FHD", (1080, 1920)),       # portrait: the fixed size turned upright
    (512, 512, "HD", (720, 720)),          # square: the width takes the height
    (512, 512, "3x", (1536, 1536)),
    (512, 768, "custom", (1000, 700)),     # the two widgets, as they are
])
def test_final_size_follows_the_packs_rules(w, h, resize_to, expected):
    assert final_size(w, h, resize_to, 1000, 700) == expected


def test_final_size_refuses_a_choice_the_pack_does_not_have():
    with pytest.raises(ValueError):
        final_size(300, 300, "8k", 1, 1)


def _models(tmp_path, name, **kw):
    folder = tmp_path / "upscale_models"
    folder.mkdir(exist_ok=True)
    state = tiny_esrgan_state_dict(seed=3, **kw)
    state["conv_last.bias"] = state["conv_last.bias"] + 1.5  # pushes the output above 1
    save_weights(state, folder / name)
    return ExecContext(models=ModelRoots((tmp_path,)), output_dir=tmp_path), state


def test_network_runs_whole_unclamped_then_resized(tmp_path):
    ctx, state = _models(tmp_path, "4x-UltraSharp.safetensors")
    (model,) = node("LoadUpscalerTensorrtModel")(ctx, model="4x-UltraSharp", precision="fp16")
    images = torch.rand(1, 256, 264, 3)
    reference = reference_rrdb(state, images.movedim(-1, 1), blocks=1, upsamples=2)
    assert reference.shape[-2:] == (1024, 1056) and reference.max() > 1.1
    (out,) = node("UpscalerTensorrt")(ctx, images=images, upscaler_trt_model=model, resize_to="custom",
                                      resize_width=500, resize_height=300)
    expected = F.interpolate(reference, size=(300, 500), mode="bicubic", antialias=True).movedim(1, -1)
    assert out.shape == (1, 300, 500, 3) and out.max() > 1.1  # not clamped
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_the_4x_size_is_the_network_output_as_it_is(tmp_path, monkeypatch):
    """No resize where the final size is the 4x size (interpolation would still change it)."""
    ctx, _ = _models(tmp_path, "4x-UltraSharp.safetensors")
    (model,) = node("LoadUpscalerTensorrtModel")(ctx, model="4x-UltraSharp", precision="fp32")
    monkeypatch.setattr(trt_nodes, "interpolate", lambda *a, **k: pytest.fail("resized a 4x output"))
    (out,) = node("UpscalerTensorrt")(ctx, images=torch.rand(1, 256, 256, 3), upscaler_trt_model=model,
                                      resize_to="4x")
    assert out.shape == (1, 1024, 1024, 3)


def test_realesrgan_is_found_under_its_release_name_as_pth(tmp_path):
    ctx, state = _models(tmp_path, "RealESRGAN_x4plus.pth")
    (model,) = node("LoadUpscalerTensorrtModel")(ctx, model="RealESRGAN_x4", precision="fp32")
    assert model.upscaler.path.name == "RealESRGAN_x4plus.pth" and model.precision == "fp32"


def test_missing_release_names_the_files_looked_for_and_why(tmp_path):
    ctx, _ = _models(tmp_path, "other.safetensors")
    with pytest.raises(NodeInputError) as err:
        node("LoadUpscalerTensorrtModel")(ctx, model="4x_foolhardy_Remacri", precision="fp16")
    text = str(err.value)
    assert err.value.input_name == "model"
    assert "4x_foolhardy_Remacri.safetensors" in text and "4x_foolhardy_Remacri.pth" in text
    assert "PyTorch weights instead of a TensorRT engine" in text and "upscale_models" in text


def test_refusals_scale_sizes_precision_and_first_layout(tmp_path):
    ctx, _ = _models(tmp_path, "4x-AnimeSharp.safetensors", upsamples=1)  # a 2x network
    with pytest.raises(NodeInputError) as err:
        node("LoadUpscalerTensorrtModel")(ctx, model="4x-AnimeSharp", precision="fp16")
    assert "2x network" in str(err.value)
    with pytest.raises(NodeInputError) as err:
        node("LoadUpscalerTensorrtModel")(ctx, model="4x-AnimeSharp", precision="int8")
    assert err.value.input_name == "precision"
    ctx, _ = _models(tmp_path, "4x-UltraSharp.safetensors")
    (model,) = node("LoadUpscalerTensorrtModel")(ctx, model="4x-UltraSharp", precision="fp16")
    for shape in ((1, 255, 300, 3), (1, 300, 1281, 3)):
        with pytest.raises(NodeInputError) as err:
            node("UpscalerTensorrt")(ctx, images=torch.rand(shape), upscaler_trt_model=model, resize_to="none")
        assert err.value.input_name == "images" and "256 to 1280" in str(err.value)
    with pytest.raises(NodeInputError) as err:
        node("UpscalerTensorrt")(ctx, images=torch.rand(1, 256, 256, 3), upscaler_trt_model=None,
                                 engine="x.engine")
    assert err.value.input_name == "engine"


def test_smoke_runs_a_workflow_on_a_standin_named_by_the_model(tmp_path):
    prompt = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 48, "batch_size": 1, "color": 0}},
        "2": {"class_type": "LoadUpscalerTensorrtModel", "inputs": {"model": "4x-UltraSharp", "precision": "fp16"}},
        "3": {"class_type": "UpscalerTensorrt", "inputs": {"images": ["1", 0], "upscaler_trt_model": ["2", 0],
                                                           "resize_to": "2x", "resize_width": 1024,
                                                           "resize_height": 1024}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "trt"}},
    }
    path = tmp_path / "trt.json"
    path.write_text(json.dumps(prompt))
    result = CliRunner().invoke(main, ["run", str(path), "--smoke", "--tiny-models", "-o", str(tmp_path / "out"),
                                       "--device", "cpu", "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert any("4x-UltraSharp.safetensors" in line for line in report["standins"]), report
    (png,) = [p for p in report["written"] if p.endswith(".png")]
    # 64x48 scaled to 341x256 (the shorter side to 256), 4x, then "2x" of the input
    assert Image.open(png).size == (682, 512)
