"""wfrun's own ESRGAN (RRDBNet) and Real-ESRGAN compact upscalers, used where spandrel is not
installed: each forward against a reference written here in plain functional torch straight
from the state dict (BasicSR's RRDBNet and SRVGGNetCompact, layer by layer), scale detection
from the keys, the three RRDB key layouts giving the same model, refusals naming the file and
the ``upscale`` extra, and the loader node and ``--smoke`` stand-in on this path. spandrel
itself is compared with in ``tests_upscale_extra/test_upscale_native_vs_spandrel.py``."""

from __future__ import annotations

import sys

import pytest
import torch
import torch.nn.functional as F

from node_helpers import node
from wfrun.models.paths import ModelRoots
from wfrun.models.tiny_upscale import save_weights, tiny_compact_state_dict, tiny_esrgan_state_dict
from wfrun.models.upscale import UpscaleModelError, load_upscale_model
from wfrun.models.upscale_native import load_native
from wfrun.nodes.executor import ExecContext, NodeInputError


@pytest.fixture(autouse=True)
def no_spandrel(monkeypatch):
    """As on a base install, even where the extra happens to be installed."""
    monkeypatch.setitem(sys.modules, "spandrel", None)


# --- references: the published networks, written out from the state dict -----------------

def conv(sd, name, x):
    return F.conv2d(x, sd[f"{name}.weight"], sd[f"{name}.bias"], padding=1)


def lrelu(x):
    return F.leaky_relu(x, 0.2)


def reference_rrdb(sd, x, *, blocks, upsamples, unshuffle=1):
    """BasicSR RRDBNet.forward: (unshuffle,) conv_first, RRDB trunk + conv_body residual,
    nearest x2 + conv + lrelu per up conv, conv_hr + lrelu, conv_last."""
    if unshuffle > 1:
        x = F.pixel_unshuffle(x, unshuffle)
    feat = conv(sd, "conv_first", x)
    trunk = feat
    for b in range(blocks):
        block_in = trunk
        for r in (1, 2, 3):
            x0 = trunk
            x1 = lrelu(conv(sd, f"body.{b}.rdb{r}.conv1", x0))
            x2 = lrelu(conv(sd, f"body.{b}.rdb{r}.conv2", torch.cat((x0, x1), 1)))
            x3 = lrelu(conv(sd, f"body.{b}.rdb{r}.conv3", torch.cat((x0, x1, x2), 1)))
            x4 = lrelu(conv(sd, f"body.{b}.rdb{r}.conv4", torch.cat((x0, x1, x2, x3), 1)))
            x5 = conv(sd, f"body.{b}.rdb{r}.conv5", torch.cat((x0, x1, x2, x3, x4), 1))
            trunk = x5 * 0.2 + x0
        trunk = trunk * 0.2 + block_in
    feat = feat + conv(sd, "conv_body", trunk)
    for k in range(1, upsamples + 1):
        feat = lrelu(conv(sd, f"conv_up{k}", F.interpolate(feat, scale_factor=2, mode="nearest")))
    return conv(sd, "conv_last", lrelu(conv(sd, "conv_hr", feat)))


def reference_compact(sd, x, *, convs, scale):
    """Real-ESRGAN SRVGGNetCompact.forward: conv + PReLU pairs, last conv, pixel shuffle, plus
    the nearest-upsampled input."""
    out = x
    for i in range(convs + 1):
        out = F.prelu(conv(sd, f"body.{2 * i}", out), sd[f"body.{2 * i + 1}.weight"])
    out = F.pixel_shuffle(conv(sd, f"body.{2 * convs + 2}", out), scale)
    return out + F.interpolate(x, scale_factor=scale, mode="nearest")


def to_old_layout(sd, upsamples):
    """The same weights in the original ESRGAN repository's names."""
    blocks = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("body."))
    names = {"conv_first": "model.0", "conv_body": f"model.1.sub.{blocks}",
             "conv_hr": f"model.{3 * upsamples + 2}", "conv_last": f"model.{3 * upsamples + 4}",
             **{f"conv_up{k}": f"model.{3 * k}" for k in range(1, upsamples + 1)}}
    out = {}
    for key, value in sd.items():
        module, kind = key.rsplit(".", 1)
        if module.startswith("body."):
            _, b, rdb, c = module.split(".")
            out[f"model.1.sub.{b}.RDB{rdb[3:]}.{c}.0.{kind}"] = value
        else:
            out[f"{names[module]}.{kind}"] = value
    return out


def to_bsrgan_layout(sd):
    """The same weights in BSRGAN / RealSR's names."""
    rename = {"conv_body": "trunk_conv", "conv_hr": "HRconv"}
    out = {}
    for key, value in sd.items():
        module, kind = key.rsplit(".", 1)
        if module.startswith("body."):
            _, b, rdb, c = module.split(".")
            module = f"RRDB_trunk.{b}.RDB{rdb[3:]}.{c}"
        elif module.startswith("conv_up"):
            module = "upconv" + module[len("conv_up"):]
        out[f"{rename.get(module, module)}.{kind}"] = value
    return out


def image(h, w, seed=0, channels=3):
    return torch.rand(1, channels, h, w, generator=torch.Generator().manual_seed(seed))


# --- forwards ---------------------------------------------------------------------------

@pytest.mark.parametrize("blocks,upsamples,unshuffle,scale", [(2, 2, 1, 4), (1, 2, 2, 2), (1, 2, 4, 1),
                                                                (1, 1, 1, 2), (1, 3, 1, 8), (1, 0, 1, 1)])
def test_rrdbnet_matches_the_reference_and_reads_its_scale(blocks, upsamples, unshuffle, scale):
    sd = tiny_esrgan_state_dict(blocks=blocks, upsamples=upsamples, unshuffle=unshuffle, seed=blocks + upsamples)
    model = load_native(sd, "tiny.pth")
    assert (model.scale, model.input_channels, model.architecture.name) == (scale, 3, "ESRGAN")
    x = image(8, 12)
    with torch.no_grad():
        torch.testing.assert_close(model.model(x), reference_rrdb(sd, x, blocks=blocks, upsamples=upsamples,
                                                                  unshuffle=unshuffle), atol=1e-6, rtol=1e-6)
        out = model(x)
    assert out.shape == (1, 3, 8 * scale, 12 * scale)
    torch.testing.assert_close(out, reference_rrdb(sd, x, blocks=blocks, upsamples=upsamples,
                                                   unshuffle=unshuffle).clamp(0, 1), atol=1e-6, rtol=1e-6)


def test_unshuffled_input_is_padded_to_a_multiple_of_four_and_cropped_back():
    sd = tiny_esrgan_state_dict(unshuffle=2, seed=3)
    model = load_native(sd, "RealESRGAN_x2plus.pth")
    x = image(9, 6)  # bottom 3 rows reflected (pad to 12), width already a multiple of 4
    padded = F.pad(x, (0, 2, 0, 3), mode="reflect")
    expected = reference_rrdb(sd, padded, blocks=1, upsamples=2, unshuffle=2)[..., :18, :12].clamp(0, 1)
    torch.testing.assert_close(model(x), expected, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("scale,convs", [(4, 3), (2, 2), (1, 1)])
def test_compact_matches_the_reference_and_reads_its_scale(scale, convs):
    sd = tiny_compact_state_dict(scale=scale, convs=convs, seed=scale)
    model = load_native(sd, "realesr-general-x4v3.pth")
    assert (model.scale, model.input_channels, model.architecture.name) == (scale, 3, "RealESRGAN Compact")
    x = image(7, 10, seed=1)
    with torch.no_grad():
        raw = model.model(x)
    expected = reference_compact(sd, x, convs=convs, scale=scale)
    torch.testing.assert_close(raw, expected, atol=1e-6, rtol=1e-6)
    assert raw.shape == (1, 3, 7 * scale, 10 * scale)
    torch.testing.assert_close(model(x), expected.clamp(0, 1), atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("upsamples,unshuffle", [(2, 1), (2, 2), (0, 1), (3, 1)])
def test_old_and_bsrgan_layouts_of_the_same_weights_give_the_same_model(upsamples, unshuffle):
    sd = tiny_esrgan_state_dict(upsamples=upsamples, unshuffle=unshuffle, blocks=2, seed=5)
    x = image(8, 8, seed=2)
    new = load_native(sd, "new.pth")
    expected = new(x)
    for other in (to_old_layout(sd, upsamples), to_bsrgan_layout(sd)):
        model = load_native(other, "other.pth")
        assert (model.scale, model.input_channels) == (new.scale, new.input_channels)
        torch.testing.assert_close(model(x), expected, atol=0, rtol=0)


# --- refusals ----------------------------------------------------------------------------

@pytest.mark.parametrize("state", [
    {"foo.weight": torch.zeros(2, 2)},
    {"layers.0.residual_group.blocks.0.norm1.weight": torch.ones(4), "conv_first.weight": torch.zeros(4, 3, 3, 3)},
])
def test_other_state_dicts_are_refused_naming_the_file_and_the_extra(state):
    with pytest.raises(UpscaleModelError, match=r"4x-Other\.pth: not an ESRGAN .*pip install 'wfrun\[upscale\]'"):
        load_native(state, "4x-Other.pth")


def test_broken_and_unsupported_rrdb_variants_are_refused_clearly():
    sd = tiny_esrgan_state_dict()
    broken = dict(sd, **{"conv_hr.weight": torch.zeros(8, 5, 3, 3)})
    with pytest.raises(UpscaleModelError, match=r"x\.pth: looks like an ESRGAN \(RRDBNet\) upscaler but cannot be built"):
        load_native(broken, "x.pth")
    with pytest.raises(UpscaleModelError, match=r"cannot be built .*extra_layer"):
        load_native(dict(sd, **{"extra_layer.weight": torch.zeros(1)}), "x.pth")
    plus = to_old_layout(sd, 2)
    plus["model.1.sub.0.RDB1.conv1x1.weight"] = torch.zeros(32, 8, 1, 1)
    with pytest.raises(UpscaleModelError, match=r"ESRGAN\+.*wfrun\[upscale\]"):
        load_native(plus, "x.pth")


# --- the loader and nodes on this path ----------------------------------------------------

@pytest.fixture
def models(tmp_path):
    folder = tmp_path / "models" / "upscale_models"
    save_weights(tiny_esrgan_state_dict(), folder / "4xLSDIR.pth")
    save_weights(to_old_layout(tiny_esrgan_state_dict(), 2), folder / "4x_foolhardy_Remacri.safetensors")
    save_weights(tiny_compact_state_dict(scale=2), folder / "2x-compact.pth")
    save_weights({"foo.weight": torch.zeros(2, 2)}, folder / "other.safetensors")
    # Real-ESRGAN's releases wrap the weights in one key (params_ema / params)
    torch.save({"params_ema": tiny_compact_state_dict(scale=2)}, folder / "realesr-wrapped.pth")
    return tmp_path / "models"


def test_loader_node_and_upscale_run_natively(models, tmp_path):
    ctx = ExecContext(models=ModelRoots((models,)), output_dir=tmp_path)
    frames = torch.rand(2, 10, 14, 3, generator=torch.Generator().manual_seed(4))
    (new,) = node("UpscaleModelLoader")(ctx, model_name="4xLSDIR.pth")
    (old,) = node("UpscaleModelLoader")(ctx, model_name="4x_foolhardy_Remacri.safetensors")
    (compact,) = node("UpscaleModelLoader")(ctx, model_name="2x-compact.pth")
    (wrapped,) = node("UpscaleModelLoader")(ctx, model_name="realesr-wrapped.pth")
    assert wrapped.scale == 2
    assert (new.scale, old.scale, compact.scale) == (4, 4, 2)
    sd = tiny_esrgan_state_dict()
    (out,) = node("ImageUpscaleWithModel")(ctx, upscale_model=new, image=frames)
    expected = reference_rrdb(sd, frames.movedim(-1, 1), blocks=1, upsamples=2).clamp(0, 1).movedim(1, -1)
    assert out.shape == (2, 40, 56, 3)
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=1e-6)
    (same,) = node("ImageUpscaleWithModel")(ctx, upscale_model=old, image=frames)
    torch.testing.assert_close(same, out, atol=0, rtol=0)
    (small,) = node("ImageUpscaleWithModel")(ctx, upscale_model=compact, image=frames)
    csd = tiny_compact_state_dict(scale=2)
    torch.testing.assert_close(small, reference_compact(csd, frames.movedim(-1, 1), convs=2, scale=2)
                               .clamp(0, 1).movedim(1, -1), atol=1e-6, rtol=1e-6)
    with pytest.raises(NodeInputError) as err:
        node("UpscaleModelLoader")(ctx, model_name="other.safetensors")
    assert err.value.input_name == "model_name"
    assert "other.safetensors" in str(err.value) and "wfrun[upscale]" in str(err.value)


def test_smoke_standin_for_any_upscaler_loads_natively(tmp_path):
    from wfrun.models.standins import family_for, write_standins

    family = family_for("UpscaleModelLoader", "model_name", "upscale_models", "4x-ClearRealityV1.pth")
    root = write_standins([family], tmp_path / "tiny", cache=tmp_path / "cache")
    model = load_upscale_model(root / "upscale_models" / "4x-ClearRealityV1.pth")
    assert model.scale == 4 and model.descriptor.architecture.name == "ESRGAN"
    assert model(image(5, 6)).shape == (1, 3, 20, 24)
