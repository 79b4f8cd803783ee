"""DepthAnythingV2 pack: key conversion, model equivalence with the original, nodes, errors.

The reference below is a plain-torch forward of the *original* Depth Anything V2 network
(DINOv2 ``get_intermediate_layers`` + ``DPTHead``, as in the pack's ``depth_anything_v2/``),
reading the original key names directly; the converted transformers model must agree with it.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from wfrun.nodes.executor import NodeInputError
from wfrun.nodes.executor import ExecContext
from wfrun.engine.executors import get_executor
from wfrun.models import tiny_depth_anything as tiny
from wfrun.packs.depthanything import convert
from wfrun.packs.depthanything.load import load_depth_anything
from wfrun.packs.depthanything.nodes import depth_anything_v2, load_depth_anything_v2
from wfrun.packs.depthanything.types import DepthAnythingModel

TINY_LAYERS = [0, 1, 2, 3]  # the original's intermediate_layer_idx for the tiny model
TINY_HEADS = 2
VITL = "depth_anything_v2_vitl_fp32.safetensors"


# --- an independent reference: the original network in plain torch ----------------------------

def _pos_embed(sd, tokens, h, w):
    pos = sd["pretrained.pos_embed"]
    n = pos.shape[1] - 1
    if tokens == n and h == w:
        return pos
    side = math.sqrt(n)
    grid = pos[:, 1:].reshape(1, int(side), int(side), -1).permute(0, 3, 1, 2)
    h0, w0 = h // 14 + 0.1, w // 14 + 0.1
    grid = F.interpolate(grid, scale_factor=(h0 / side, w0 / side), mode="bicubic", antialias=False)
    return torch.cat([pos[:, :1], grid.permute(0, 2, 3, 1).reshape(1, -1, pos.shape[-1])], dim=1)


def _ln(sd, name, x):
    return F.layer_norm(x, x.shape[-1:], sd[f"{name}.weight"], sd[f"{name}.bias"], eps=1e-6)


def _lin(sd, name, x):
    return F.linear(x, sd[f"{name}.weight"], sd.get(f"{name}.bias"))


def _conv(sd, name, x, **kw):
    return F.conv2d(x, sd[f"{name}.weight"], sd.get(f"{name}.bias"), **kw)


def reference_depth(sd, x, layers, heads, metric_max_depth=None):
    b, _, h, w = x.shape
    ph, pw = h // 14, w // 14
    t = _conv(sd, "pretrained.patch_embed.proj", x, stride=14).flatten(2).transpose(1, 2)
    t = torch.cat([sd["pretrained.cls_token"].expand(b, -1, -1), t], dim=1)
    t = t + _pos_embed(sd, t.shape[1] - 1, h, w)
    feats = []
    depth = len({k.split(".")[2] for k in sd if k.startswith("pretrained.blocks.")})
    for i in range(depth):
        p = f"pretrained.blocks.{i}"
        y = _ln(sd, f"{p}.norm1", t)
        n, c = y.shape[1], y.shape[2]
        q, k, v = _lin(sd, f"{p}.attn.qkv", y).reshape(b, n, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
        att = ((q * (c // heads) ** -0.5) @ k.transpose(-2, -1)).softmax(-1)
        y = _lin(sd, f"{p}.attn.proj", (att @ v).transpose(1, 2).reshape(b, n, c))
        t = t + sd[f"{p}.ls1.gamma"] * y
        y = _lin(sd, f"{p}.mlp.fc2", F.gelu(_lin(sd, f"{p}.mlp.fc1", _ln(sd, f"{p}.norm2", t))))
        t = t + sd[f"{p}.ls2.gamma"] * y
        if i in layers:
            feats.append(_ln(sd, "pretrained.norm", t)[:, 1:])
    hd = "depth_head"
    out = []
    for i, f in enumerate(feats):
        f = f.permute(0, 2, 1).reshape(b, f.shape[-1], ph, pw)
        f = _conv(sd, f"{hd}.projects.{i}", f)
        if i == 0:
            f = F.conv_transpose2d(f, sd[f"{hd}.resize_layers.0.weight"], sd[f"{hd}.resize_layers.0.bias"], stride=4)
        elif i == 1:
            f = F.conv_transpose2d(f, sd[f"{hd}.resize_layers.1.weight"], sd[f"{hd}.resize_layers.1.bias"], stride=2)
        elif i == 3:
            f = _conv(sd, f"{hd}.resize_layers.3", f, stride=2, padding=1)
        out.append(_conv(sd, f"{hd}.scratch.layer{i + 1}_rn", f, padding=1))

    def rcu(name, x):
        y = _conv(sd, f"{name}.conv1", F.relu(x), padding=1)
        return _conv(sd, f"{name}.conv2", F.relu(y), padding=1) + x

    def fuse(i, *xs, size=None):
        net = f"{hd}.scratch.refinenet{i}"
        y = xs[0]
        if len(xs) == 2:
            y = y + rcu(f"{net}.resConfUnit1", xs[1])
        y = rcu(f"{net}.resConfUnit2", y)
        mod = {"size": size} if size is not None else {"scale_factor": 2}
        y = F.interpolate(y, **mod, mode="bilinear", align_corners=True)
        return _conv(sd, f"{net}.out_conv", y)

    l1, l2, l3, l4 = out
    path = fuse(4, l4, size=l3.shape[2:])
    path = fuse(3, path, l3, size=l2.shape[2:])
    path = fuse(2, path, l2, size=l1.shape[2:])
    path = fuse(1, path, l1)
    y = _conv(sd, f"{hd}.scratch.output_conv1", path, padding=1)
    y = F.interpolate(y, (ph * 14, pw * 14), mode="bilinear", align_corners=True)
    y = F.relu(_conv(sd, f"{hd}.scratch.output_conv2.0", y, padding=1))
    y = _conv(sd, f"{hd}.scratch.output_conv2.2", y)
    if metric_max_depth is not None:
        return (torch.sigmoid(y) * metric_max_depth).squeeze(1)
    return F.relu(F.relu(y)).squeeze(1)


def reference_node(sd, images, metric_max_depth=None):
    """The pack's DepthAnything_V2.process around the reference network."""
    _, h0, w0, _ = images.shape
    x = images.permute(0, 3, 1, 2)
    h, w = h0 - h0 % 14, w0 - w0 % 14
    if (h, w) != (h0, w0):
        x = F.interpolate(x, size=(h, w), mode="bilinear")
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    x = (x - mean) / std
    outs = []
    for frame in x:
        d = reference_depth(sd, frame[None], TINY_LAYERS, TINY_HEADS, metric_max_depth)
        outs.append((d - d.min()) / (d.max() - d.min()))
    d = torch.cat(outs).unsqueeze(-1).expand(-1, -1, -1, 3)
    fh, fw = h0 // 2 * 2, w0 // 2 * 2
    if d.shape[1:3] != (fh, fw):
        d = F.interpolate(d.permute(0, 3, 1, 2), size=(fh, fw), mode="bilinear").permute(0, 2, 3, 1)
    d = ((d - d.min()) / (d.max() - d.min())).clamp(0, 1)
    return 1 - d if metric_max_depth is not None else d


# --- fixtures ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("models")
    tiny.write_tiny_depth_anything(root)
    return root


@pytest.fixture(scope="module")
def tiny_sd() -> dict[str, torch.Tensor]:
    return tiny.tiny_depth_anything_state_dict()


def _meta(shapes):
    return {k: torch.empty(s, device="meta") for k, s in shapes.items()}


def _expected(variant, **kw):
    from transformers import DepthAnythingForDepthEstimation

    with torch.device("meta"):
        model = DepthAnythingForDepthEstimation(convert.build_config(variant, **kw))
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


# --- conversion ----------------------------------------------------------------------------

def test_tiny_file_is_small_and_in_the_original_layout(models_dir, tiny_sd):
    path = models_dir / "depthanything" / VITL
    assert path.is_file() and path.stat().st_size < 4 * 2**20
    assert "pretrained.blocks.3.attn.qkv.weight" in tiny_sd
    assert "depth_head.scratch.refinenet1.resConfUnit2.conv2.bias" in tiny_sd
    assert not any(k.startswith(("backbone.", "neck.", "head.")) for k in tiny_sd)


def test_every_key_converts_with_no_missing_or_unexpected(tiny_sd):
    variant = convert.variants()["tiny"]
    expected = _expected(variant)
    assert all(convert.rename(k) is not None for k in tiny_sd)
    converted = convert.convert_state_dict(tiny_sd, expected)
    assert set(converted) == set(expected)
    assert {k: tuple(v.shape) for k, v in converted.items()} == expected
    # every stored number lands somewhere exactly once (qkv splits into three thirds)
    assert sum(v.numel() for v in converted.values()) == sum(v.numel() for v in tiny_sd.values())


@pytest.mark.parametrize("name,embed,depth,features,out_channels,swiglu", [
    ("vits", 384, 12, 64, (48, 96, 192, 384), False),
    ("vitb", 768, 12, 128, (96, 192, 384, 768), False),
    ("vitl", 1024, 24, 256, (256, 512, 1024, 1024), False),
    ("vitg", 1536, 40, 384, (1536, 1536, 1536, 1536), True),
])
def test_real_sizes_are_detected_and_convert_completely(name, embed, depth, features, out_channels, swiglu):
    shapes = tiny.original_layout(embed, depth, features, out_channels, swiglu=swiglu)
    variant = convert.detect(shapes)
    assert variant.name == name
    expected = _expected(variant)
    converted = convert.convert_state_dict(_meta(shapes), expected)  # raises on any mismatch
    assert set(converted) == set(expected)


def test_swiglu_split_and_transformers_4x_names():
    shapes = tiny.original_layout(48, 2, 16, (8, 16, 32, 32), swiglu=True)
    names = convert.rename("pretrained.blocks.1.attn.qkv.bias", legacy=True)
    assert names == tuple(f"backbone.encoder.layer.1.attention.attention.{p}.bias" for p in ("query", "key", "value"))
    assert convert.rename("pretrained.blocks.0.mlp.w12.weight", legacy=True) == ("backbone.encoder.layer.0.mlp.weights_in.weight",)
    assert convert.rename("pretrained.blocks.0.attn.proj.weight", legacy=True) == \
        "backbone.encoder.layer.0.attention.output.dense.weight"
    expected_4x = {"backbone.encoder.layer.0.attention.attention.query.weight": (1536, 1536)}
    assert convert.uses_4x_names(expected_4x)
    w12 = torch.arange(float(math.prod(shapes["pretrained.blocks.0.mlp.w12.weight"])))
    w12 = w12.reshape(shapes["pretrained.blocks.0.mlp.w12.weight"])
    converted = convert.convert_state_dict({"pretrained.blocks.0.mlp.w12.weight": w12})
    gate = converted["backbone.encoder.layer.0.mlp.gate_proj.weight"]
    up = converted["backbone.encoder.layer.0.mlp.up_proj.weight"]
    # the original computes silu(first half) * second half
    assert torch.equal(gate, w12[: w12.shape[0] // 2]) and torch.equal(up, w12[w12.shape[0] // 2:])


def test_detection_uses_weights_not_name(models_dir, tmp_path):
    vits_named = tiny.write_tiny_depth_anything(tmp_path, "depth_anything_v2_vits_fp16.safetensors")
    _, variant = load_depth_anything(vits_named)
    assert variant.name == "tiny"
    with pytest.raises(convert.NotDepthAnythingError, match="embedding width 100"):
        convert.detect({"pretrained.cls_token": (1, 1, 100), "depth_head.x.weight": (1,)})
    shapes = tiny.original_layout(384, 12, 64, (48, 96, 192, 384))
    shapes = {k: v for k, v in shapes.items() if not k.startswith("pretrained.blocks.11.")}
    with pytest.raises(convert.NotDepthAnythingError, match="has 11 transformer blocks"):
        convert.detect(shapes)


# --- the converted model equals the original network ----------------------------------------

@pytest.mark.parametrize("hw", [(42, 70), (56, 56), (518, 518)])
def test_converted_model_matches_original_forward(models_dir, tiny_sd, hw):
    model, _ = load_depth_anything(models_dir / "depthanything" / VITL)
    x = torch.randn(2 if hw[0] < 100 else 1, 3, *hw, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        got = model(pixel_values=x).predicted_depth
        want = reference_depth(tiny_sd, x, TINY_LAYERS, TINY_HEADS)
    assert got.shape == (x.shape[0], *hw)
    assert want.std() > 1e-3  # a degenerate map would prove nothing
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_metric_head_matches_original(models_dir, tiny_sd):
    model, _ = load_depth_anything(models_dir / "depthanything" / VITL, is_metric=True, max_depth=20)
    x = torch.randn(1, 3, 28, 42, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        got = model(pixel_values=x).predicted_depth
    torch.testing.assert_close(got, reference_depth(tiny_sd, x, TINY_LAYERS, TINY_HEADS, 20.0), rtol=1e-4, atol=1e-4)


def test_a_wrong_mapping_would_be_caught(models_dir, tiny_sd):
    """The comparison above can fail: swapping two refinenets changes the output."""
    sd = dict(tiny_sd)
    for leaf in ("out_conv.weight", "out_conv.bias"):
        sd[f"depth_head.scratch.refinenet1.{leaf}"], sd[f"depth_head.scratch.refinenet2.{leaf}"] = (
            sd[f"depth_head.scratch.refinenet2.{leaf}"], sd[f"depth_head.scratch.refinenet1.{leaf}"])
    model, _ = load_depth_anything(models_dir / "depthanything" / VITL)
    x = torch.randn(1, 3, 42, 70, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        diff = (model(pixel_values=x).predicted_depth - reference_depth(sd, x, TINY_LAYERS, TINY_HEADS)).abs().max()
    assert diff > 1e-3


# --- nodes ---------------------------------------------------------------------------------

def test_executors_are_registered():
    assert get_executor("DownloadAndLoadDepthAnythingV2Model") is load_depth_anything_v2
    assert get_executor("DepthAnything_V2") is depth_anything_v2


def _load(models_dir, name=VITL, **kw):
    return load_depth_anything_v2(ExecContext(models=models_dir), model=name, **{"precision": "auto", **kw})[0]


def test_nodes_end_to_end_match_the_pack(models_dir, tiny_sd):
    da = _load(models_dir)
    assert isinstance(da, DepthAnythingModel) and da.dtype == torch.float32 and not da.is_metric
    images = torch.rand(3, 50, 77, 3, generator=torch.Generator().manual_seed(4))
    (depth,) = depth_anything_v2(ExecContext(models=models_dir), da_model=da, images=images)
    assert depth.dtype == torch.float32
    assert depth.shape == (3, 50, 76, 3)  # the pack rounds sides down to even numbers
    assert depth.min() == 0 and depth.max() == 1
    assert torch.equal(depth[..., 0], depth[..., 2])
    torch.testing.assert_close(depth, reference_node(tiny_sd, images), rtol=1e-4, atol=1e-4)


def test_node_keeps_an_even_input_size_and_inverts_metric(models_dir, tiny_sd, tmp_path):
    metric = "depth_anything_v2_metric_hypersim_vitl_fp32.safetensors"
    tiny.write_tiny_depth_anything(tmp_path, metric)
    da = _load(tmp_path, metric)
    assert da.is_metric and da.model.config.max_depth == 20
    images = torch.rand(2, 64, 48, 3, generator=torch.Generator().manual_seed(5))
    (depth,) = depth_anything_v2(ExecContext(), da_model=da, images=images)
    assert depth.shape == (2, 64, 48, 3)
    assert 0 <= depth.min() and depth.max() <= 1
    torch.testing.assert_close(depth, reference_node(tiny_sd, images, 20.0), rtol=1e-4, atol=1e-4)


def test_precision(models_dir, tmp_path):
    assert _load(models_dir, precision="bf16").dtype == torch.bfloat16
    fp16_name = "depth_anything_v2_vits_fp16.safetensors"
    tiny.write_tiny_depth_anything(tmp_path, fp16_name, dtype=torch.float16)
    da = _load(tmp_path, fp16_name)
    assert da.dtype == torch.float16  # auto follows the name, as in the pack
    assert next(da.model.parameters()).dtype == torch.float32  # weights up-cast, as in the pack
    images = torch.rand(1, 28, 28, 3)
    (depth,) = depth_anything_v2(ExecContext(), da_model=_load(models_dir, precision="bf16"), images=images)
    assert depth.shape == (1, 28, 28, 3) and torch.isfinite(depth).all()


def test_bad_images_are_refused(models_dir):
    da = _load(models_dir)
    node = depth_anything_v2
    with pytest.raises(NodeInputError) as err:
        node(ExecContext(), da_model=da, images=torch.rand(1, 10, 40, 3))
    assert err.value.input_name == "images" and "14" in str(err.value)
    with pytest.raises(NodeInputError) as err:
        node(ExecContext(), da_model=da, images=torch.rand(1, 40, 40))
    assert err.value.input_name == "images"


# --- errors --------------------------------------------------------------------------------

def test_missing_file_names_folder_and_source(tmp_path):
    with pytest.raises(NodeInputError) as err:
        _load(tmp_path, "depth_anything_v2_vitb_fp32.safetensors")
    e = err.value
    assert e.input_name == "model"
    assert "depth_anything_v2_vitb_fp32.safetensors" in str(e)
    assert str(tmp_path / "depthanything") in str(e)
    assert "huggingface.co/Kijai/DepthAnythingV2-safetensors" in e.hint
    assert "never downloads" in e.hint
    with pytest.raises(NodeInputError) as err:
        _load(tmp_path, "depth_anything_v2_vitg_fp32.safetensors")
    assert "Nap/depth_anything_v2_vitg" in err.value.hint


def test_a_file_that_is_not_a_depth_model(tmp_path):
    folder = tmp_path / "depthanything"
    folder.mkdir()
    save_file({"blocks.0.self_attn.q.weight": torch.zeros(4, 4)}, str(folder / VITL))
    with pytest.raises(NodeInputError) as err:
        _load(tmp_path)
    assert err.value.input_name == "model"
    assert "not a Depth Anything V2 checkpoint" in str(err.value) and VITL in str(err.value)

    (folder / VITL).write_bytes(b"<html>rate limited</html>")
    with pytest.raises(NodeInputError) as err:
        _load(tmp_path)
    assert "safetensors" in str(err.value)


def test_an_incomplete_depth_model(tmp_path, tiny_sd):
    folder = tmp_path / "depthanything"
    folder.mkdir()
    sd = {k: v for k, v in tiny_sd.items() if not k.startswith("depth_head.scratch.refinenet3.")}
    sd["depth_head.extra.weight"] = torch.zeros(1)
    save_file(sd, str(folder / VITL))
    with pytest.raises(NodeInputError) as err:
        _load(tmp_path)
    message = str(err.value)
    assert "missing tensors" in message and "fusion_stage.layers.1" in message
    assert "unexpected tensors depth_head.extra.weight" in message
