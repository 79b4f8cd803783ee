"""KJNodes' WidgetToString, ImageBatchExtendWithOverlap, GetLatentSizeAndCount, DummyOut,
VRAM_Debug, PatchModelPatcherOrder, TorchCompileModelWanVideo and DiffusionModelLoaderKJ;
ComfyUI_essentials' ImageRemoveAlpha+ and VideoHelperSuite's VHS_SplitImages. References:
the packs' documented rules written out here, CIE L*a*b* values from the standard."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from node_helpers import node
from wfrun.models.handles import CoreModel
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.kjnodes.batch_extend import lab_to_rgb, rgb_to_lab

CTX = ExecContext()

# ------------------------------------------------------------------ WidgetToString


def _ui_node(node_id, class_type, widgets, inputs=(), outputs=(), title=None, mode=0):
    entry = {"id": node_id, "type": class_type, "pos": [0, 0], "size": [1, 1], "flags": {}, "order": 0,
             "mode": mode, "inputs": list(inputs), "outputs": list(outputs), "properties": {},
             "widgets_values": widgets}
    if title:
        entry["title"] = title
    return entry


def _workflow(seed_input_link: bool = False) -> dict:
    sampler_inputs = [{"name": "seed", "type": "INT", "widget": {"name": "seed"}, "link": 2}] if seed_input_link else []
    nodes = [
        _ui_node(3, "KSampler", [42, "fixed", 20, 7.5, "euler", "normal", 1.0], inputs=sampler_inputs,
                 outputs=[{"name": "LATENT", "type": "LATENT", "links": [1]}], title="Main sampler"),
        _ui_node(5, "EmptyLatentImage", [832, 480, 1], outputs=[{"name": "LATENT", "type": "LATENT", "links": []}]),
        _ui_node(10, "WidgetToString", [0, "steps", False, "", 2],
                 inputs=[{"name": "any_input", "type": "*", "link": 1}],
                 outputs=[{"name": "STRING", "type": "STRING", "links": []}]),
        _ui_node(11, "EmptyLatentImage", [64, 64, 1], mode=2),  # muted: not in ComfyUI's prompt
    ]
    links = [[1, 3, 0, 10, 0, "*"]]
    if seed_input_link:
        nodes.append(_ui_node(7, "INTConstant", [5], outputs=[{"name": "value", "type": "INT", "links": [2]}]))
        links.append([2, 7, 0, 3, 0, "INT"])
    return {"last_node_id": 11, "last_link_id": 2, "nodes": nodes, "links": links, "groups": [], "config": {},
            "extra": {}, "version": 0.4}


def _w2s(workflow, node_id="10", **inputs):
    ctx = ExecContext(workflow_json=workflow, node_id=node_id)
    return node("WidgetToString")(ctx, **{"widget_name": "steps", **inputs})[0]


def test_widget_to_string_reads_the_linked_node_by_default():
    assert _w2s(_workflow()) == "20"
    assert _w2s(_workflow(), widget_name="cfg") == "7.50"  # floats with allowed_float_decimals
    assert _w2s(_workflow(), widget_name="cfg", allowed_float_decimals=0) == "8"
    assert _w2s(_workflow(), widget_name=" steps , sampler_name") == "steps: 20, sampler_name: euler"


def test_widget_to_string_by_id_and_title_and_return_all():
    assert _w2s(_workflow(), id=5, widget_name="width") == "832"
    assert _w2s(_workflow(), node_title="Main sampler", widget_name="scheduler") == "normal"
    assert _w2s(_workflow(), id=5, return_all=True) == "width: 832, height: 480, batch_size: 1"


def test_widget_to_string_shows_a_linked_widget_as_the_prompt_holds_it():
    assert _w2s(_workflow(seed_input_link=True), widget_name="seed") == "['7', 0]"


def test_widget_to_string_api_format():
    prompt = {"3": {"class_type": "KSampler", "_meta": {"title": "Sampler"},
                    "inputs": {"seed": 1, "steps": 8, "cfg": 1.0, "sampler_name": "euler", "scheduler": "simple",
                               "denoise": 1.0, "model": ["4", 0]}},
              "4": {"class_type": "UNETLoader", "inputs": {"unet_name": "m.safetensors", "weight_dtype": "default"}},
              "10": {"class_type": "WidgetToString",
                     "inputs": {"id": 3, "widget_name": "cfg", "return_all": False, "allowed_float_decimals": 1}}}
    assert _w2s(prompt, id=3, widget_name="cfg", allowed_float_decimals=1) == "1.0"
    assert _w2s(prompt, node_title="Sampler", widget_name="model") == "['4', 0]"


@pytest.mark.parametrize("inputs,name", [
    ({"widget_name": "nope"}, "widget_name"),
    ({"widget_name": ""}, "widget_name"),
    ({"id": 99}, "id"),
    ({"id": 11}, "id"),  # muted
    ({"node_title": "Nobody"}, "node_title"),
])
def test_widget_to_string_missing_node_or_widget(inputs, name):
    with pytest.raises(NodeInputError) as err:
        _w2s(_workflow(), **inputs)
    assert err.value.input_name == name


def test_widget_to_string_unlinked_without_id_or_title():
    workflow = copy.deepcopy(_workflow())
    workflow["nodes"][2]["inputs"][0]["link"] = None
    workflow["links"] = []
    with pytest.raises(NodeInputError) as err:
        _w2s(workflow)
    assert err.value.input_name == "any_input"


# ------------------------------------------------------------------ ImageBatchExtendWithOverlap


def _frames(*values: float) -> torch.Tensor:
    return torch.tensor(values).view(-1, 1, 1, 1).expand(-1, 2, 2, 3).clone()


def _values(images: torch.Tensor) -> list[float]:
    return [round(float(v), 5) for v in images[:, 0, 0, 0]]


def _extend(new, **inputs):
    return node("ImageBatchExtendWithOverlap")(CTX, source_images=_frames(0.0, 0.1, 0.2, 0.3, 0.4),
                                               new_images=new, **{"overlap": 2, **inputs})


def test_extend_linear_and_ease_blends():
    new = _frames(0.9, 0.9, 0.8, 0.7)
    source, start, extended = _extend(new, overlap_mode="linear_blend", overlap_side="source")
    # weights 1/3, 2/3 from the source's last two frames towards the new first two
    assert _values(start) == [0.3, 0.4] and _values(source) == [0.0, 0.1, 0.2, 0.3, 0.4]
    assert _values(extended) == [0.0, 0.1, 0.2, round(2 / 3 * 0.3 + 1 / 3 * 0.9, 5),
                                 round(1 / 3 * 0.4 + 2 / 3 * 0.9, 5), 0.8, 0.7]
    _, _, eased = _extend(new, overlap_mode="ease_in_out", overlap_side="new_images")
    e1, e2 = 3 / 9 - 2 / 27, 3 * 4 / 9 - 2 * 8 / 27  # 3t^2 - 2t^3 at 1/3 and 2/3
    assert _values(eased)[3:5] == [round((1 - e1) * 0.9 + e1 * 0.3, 5), round((1 - e2) * 0.9 + e2 * 0.4, 5)]
    _, _, filmic = _extend(new, overlap_mode="filmic_crossfade", overlap_side="source")
    assert _values(filmic)[3] == round((2 / 3 * 0.3 ** 2.2 + 1 / 3 * 0.9 ** 2.2) ** (1 / 2.2), 5)


def test_extend_cut_and_the_passthrough_cases():
    new = _frames(0.9, 0.8, 0.7)
    assert _values(_extend(new, overlap_mode="cut", overlap_side="source")[2]) == [0.0, 0.1, 0.2, 0.9, 0.8, 0.7]
    assert _values(_extend(new, overlap_mode="cut", overlap_side="new_images")[2]) == [0.0, 0.1, 0.2, 0.3, 0.4, 0.7]
    _, start, placeholder = _extend(None, overlap_mode="linear_blend", overlap_side="source")
    assert _values(start) == [0.3, 0.4] and torch.equal(placeholder, torch.zeros(1, 64, 64, 3))
    out = _extend(new, overlap=6, overlap_mode="linear_blend", overlap_side="source")
    assert all(o is out[0] for o in out)  # more overlap than source frames: the source three times


def test_lab_matches_the_cie_values_and_round_trips():
    rgb = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    lab = rgb_to_lab(rgb)
    # sRGB white, red and blue under D65 (Lindbloom's calculator): L*, a*, b*
    expected = torch.tensor([[100.0, 0.0, 0.0], [53.2408, 80.0925, 67.2032], [32.2970, 79.1875, -107.8602]])
    torch.testing.assert_close(lab, expected, atol=0.02, rtol=0)
    colours = torch.rand(4, 5, 3, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(lab_to_rgb(rgb_to_lab(colours)), colours, atol=1e-4, rtol=0)


def test_perceptual_crossfade_of_equal_frames_keeps_them():
    frames = torch.rand(4, 3, 3, 3, generator=torch.Generator().manual_seed(1))
    _, _, out = node("ImageBatchExtendWithOverlap")(CTX, source_images=frames, new_images=frames[2:].clone(),
                                                    overlap=2, overlap_side="source",
                                                    overlap_mode="perceptual_crossfade")
    torch.testing.assert_close(out, frames, atol=1e-4, rtol=0)


# ------------------------------------------------------------------ small utility nodes


def test_latent_size_and_count_and_dummy_out():
    video = {"samples": torch.zeros(1, 16, 21, 60, 104)}
    assert node("GetLatentSizeAndCount")(CTX, latent=video) == (video, 1, 16, 21, 60, 104)
    image = {"samples": torch.zeros(2, 4, 8, 6)}
    assert node("GetLatentSizeAndCount")(CTX, latent=image)[1:] == (2, 4, 0, 8, 6)
    with pytest.raises(NodeInputError):
        node("GetLatentSizeAndCount")(CTX, latent=torch.zeros(1, 2, 3))
    thing = object()
    assert node("DummyOut")(CTX, any_input=thing)[0] is thing


@pytest.mark.parametrize("saved_date,inputs,picked", [
    (None, {"any_input": "a", "image_pass": "i", "model_pass": "m"}, ("a", "i", "m")),
    ("2024-04-08", {"input": "a"}, ("a",)),
    ("2024-03-15", {"image_passthrough": "i", "model_passthrough": "m"}, ("i", "m")),
    ("2024-02-26", {"image_passthrough": "i"}, ("i",)),
    ("2023-10-17", {"model": "m", "empty_cuda_cache": True}, ("m",)),
])
def test_vram_debug_passes_its_inputs_in_the_saved_revisions_order(saved_date, inputs, picked):
    out = node("VRAM_Debug")(ExecContext(saved_date=saved_date), **inputs)
    assert out[:-2] == picked
    assert all(isinstance(v, int) and v >= 0 for v in out[-2:])


def _model() -> CoreModel:
    net = nn.Module()
    net.blocks = nn.ModuleList([nn.Linear(4, 4)])
    return CoreModel(transformer=net, task="t2v", path=Path("m.safetensors"), dtype=torch.float32,
                     latent_channels=16, shift=8.0)


def test_patch_model_patcher_order_is_a_pass_through():
    model = _model()
    out, = node("PatchModelPatcherOrder")(CTX, model=model, patch_order="object_patch_first", full_load="enabled")
    assert out is model


def test_torch_compile_model_wan_video_by_revision():
    model = _model()
    settings = {"backend": "inductor", "fullgraph": False, "mode": "default", "dynamic": False,
                "dynamo_cache_size_limit": 64}
    first, = node("TorchCompileModelWanVideo")(CTX, model=model, compile_transformer_blocks=True, **settings)
    assert first.compile == {"backend": "inductor", "fullgraph": False, "mode": "default", "dynamic": False,
                             "blocks_only": True, "cache_size_limit": 64}
    off, = node("TorchCompileModelWanVideo")(CTX, model=model, compile_transformer_blocks=False, **settings)
    assert off.compile is None  # the first revision compiled nothing with the switch off
    whole, = node("TorchCompileModelWanVideo")(CTX, model=model, compile_transformer_blocks_only=False, **settings)
    assert whole.compile["blocks_only"] is False and model.compile is None
    assert node("TorchCompileModelWanVideo")(CTX, model=model)[0] is model  # since 2026: a pass-through


# ------------------------------------------------------------------ DiffusionModelLoaderKJ


@pytest.fixture(scope="module")
def loader_ctx(tiny_models) -> ExecContext:
    return ExecContext(models=ModelRoots.from_options(tiny_models))


TINY_T2V = "wan2.1_t2v_1.3B_tiny_bf16.safetensors"


def test_diffusion_model_loader_kj_is_unet_loaders_model_with_options(loader_ctx):
    plain, = node("UNETLoader")(loader_ctx, unet_name=TINY_T2V, weight_dtype="default")
    kj, = node("DiffusionModelLoaderKJ")(loader_ctx, model_name=TINY_T2V, weight_dtype="default",
                                         enable_fp16_accumulation=True, sage_attention="sageattn_qk_int8_pv_fp16_cuda")
    assert dataclasses.replace(kj, transformer=plain.transformer, fp16_accumulation=False) == plain
    assert kj.fp16_accumulation and kj.attention == "native"  # no CUDA here: SDPA, with a notice
    for a, b in zip(plain.transformer.state_dict().values(), kj.transformer.state_dict().values()):
        assert torch.equal(a, b)
    fp16, = node("DiffusionModelLoaderKJ")(loader_ctx, ckpt_name=TINY_T2V, weight_dtype="fp16",
                                           compute_dtype="fp16")
    assert fp16.dtype == torch.float32  # the CPU computes in fp32 whatever is asked


def test_diffusion_model_loader_kj_extra_state_dict_only_from_the_model_folders(loader_ctx):
    with pytest.raises(NodeInputError) as err:
        node("DiffusionModelLoaderKJ")(loader_ctx, model_name=TINY_T2V, weight_dtype="default",
                                       extra_state_dict="/etc/passwd")
    assert err.value.input_name == "extra_state_dict"
    with pytest.raises(NodeInputError) as err:
        node("DiffusionModelLoaderKJ")(loader_ctx, model_name=TINY_T2V, weight_dtype="fp4")
    assert err.value.input_name == "weight_dtype"


# ------------------------------------------------------------------ essentials, VHS


def test_image_remove_alpha_drops_the_fourth_channel_only():
    rgba = torch.rand(2, 3, 4, 4)
    out, = node("ImageRemoveAlpha+")(CTX, image=rgba)
    assert torch.equal(out, rgba[..., :3])
    rgb = torch.rand(1, 3, 4, 3)
    assert node("ImageRemoveAlpha+")(CTX, image=rgb)[0] is rgb


@pytest.mark.parametrize("index,a,b", [(2, 2, 3), (0, 0, 5), (-1, 4, 1), (9, 5, 0)])
def test_vhs_split_images_is_a_python_slice(index, a, b):
    images = torch.arange(5.0).view(5, 1, 1, 1).expand(5, 2, 2, 3)
    first, a_count, second, b_count = node("VHS_SplitImages")(CTX, images=images, split_index=index)
    assert (a_count, b_count) == (a, b)
    assert torch.equal(first, images[:a]) and torch.equal(second, images[a:])


# ------------------------------------------------------------------ DiffusionModelSelector, VAELoaderKJ


def test_diffusion_model_selector_gives_the_full_path(loader_ctx, tiny_models):
    path, = node("DiffusionModelSelector")(loader_ctx, model_name=TINY_T2V)
    assert Path(path) == Path(tiny_models) / "diffusion_models" / TINY_T2V
    with pytest.raises(NodeInputError) as err:
        node("DiffusionModelSelector")(loader_ctx, model_name="KJModules/missing_module.safetensors")
    assert err.value.input_name == "model_name"
    with pytest.raises(NodeInputError) as err:  # "connector" names are looked up among the text encoders
        node("DiffusionModelSelector")(loader_ctx, model_name="ltx2_connector.safetensors")
    assert err.value.input_name == "model_name"


def test_diffusion_model_selector_feeds_the_kj_loader_extra_state_dict(loader_ctx):
    """The selector's path names a file in the models folders, so DiffusionModelLoaderKJ takes it."""
    path, = node("DiffusionModelSelector")(loader_ctx, model_name="wan2.1_vace_1.3B_tiny_fp16.safetensors")
    with pytest.raises(NodeInputError) as err:
        node("DiffusionModelLoaderKJ")(loader_ctx, model_name=TINY_T2V, weight_dtype="default",
                                       extra_state_dict=str(Path(path).parent / "not_there.safetensors"))
    assert err.value.input_name == "extra_state_dict"  # found by name in the folders, not opened by path


def test_diffusion_model_selector_files_get_stand_ins_where_the_selector_looks():
    """--smoke: the selector lists two folders; its stand-in goes where it looks for the name
    (``diffusion_models`` unless the name says connector), a VACE module by its name."""
    from wfrun.models.standins import NoStandin, family_for

    folders = "diffusion_models,text_encoders"
    module = family_for("DiffusionModelSelector", "model_name", folders,
                        "KJModules\\Wan2_1-VACE_module_14B_bf16.safetensors")
    assert module.folder == "diffusion_models" and module.family.kind == "wan_vace_module"
    model = family_for("DiffusionModelSelector", "model_name", folders, "Phantom-Wan-14B_fp16.safetensors")
    assert model.folder == "diffusion_models" and model.family.kind == "wan_transformer"
    with pytest.raises(NoStandin, match="connector"):
        family_for("DiffusionModelSelector", "model_name", folders, "ltx2_connector.safetensors")


def test_vae_loader_kj_is_the_core_vae_loaders_vae(loader_ctx):
    core, = node("VAELoader")(loader_ctx, vae_name="wan_2.1_vae_tiny.safetensors")
    kj, = node("VAELoaderKJ")(loader_ctx, vae_name="wan_2.1_vae_tiny.safetensors", device="main_device",
                              weight_dtype="bf16")
    assert kj.dtype == core.dtype == torch.float32  # the CPU computes in fp32 whatever is asked
    assert kj.path == core.path and type(kj.vae) is type(core.vae)
    for a, b in zip(core.vae.state_dict().values(), kj.vae.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("inputs,name", [({"vae_name": "taesd"}, "vae_name"), ({"vae_name": "pixel_space"}, "vae_name"),
                                         ({"vae_name": "missing.safetensors"}, "vae_name"),
                                         ({"weight_dtype": "fp8"}, "weight_dtype"), ({"device": "cuda:3"}, "device")])
def test_vae_loader_kj_bad_inputs(loader_ctx, inputs, name):
    given = {"vae_name": "wan_2.1_vae_tiny.safetensors", "device": "main_device", "weight_dtype": "bf16", **inputs}
    with pytest.raises(NodeInputError) as err:
        node("VAELoaderKJ")(loader_ctx, **given)
    assert err.value.input_name == name


# ------------------------------------------------------------------ ImageAddMulti


@pytest.mark.parametrize("blending,k,expected", [("add", 0.25, lambda a, b, c: ((a * .25 + b * .25) * .25 + c * .25)),
                                                 ("subtract", 0.5, lambda a, b, c: ((a * .5 - b * .5) * .5 - c * .5)),
                                                 ("multiply", 1.0, lambda a, b, c: a * b * c),
                                                 ("difference", 0.3, lambda a, b, c: a - b - c)])
def test_image_add_multi_folds_left_to_right(blending, k, expected):
    a, b, c = (torch.full((1, 2, 2, 3), v) for v in (0.8, 0.4, 0.2))
    out, = node("ImageAddMulti")(CTX, inputcount=3, image_1=a, image_2=b, image_3=c, blending=blending,
                                 blend_amount=k)
    assert torch.allclose(out, expected(a, b, c))


def test_image_add_multi_names_the_missing_or_mismatched_input():
    a = torch.zeros(1, 2, 2, 3)
    with pytest.raises(NodeInputError) as err:
        node("ImageAddMulti")(CTX, inputcount=3, image_1=a, image_2=a, blending="add")
    assert err.value.input_name == "image_3"
    with pytest.raises(NodeInputError) as err:
        node("ImageAddMulti")(CTX, inputcount=2, image_1=a, image_2=torch.zeros(1, 3, 3, 3), blending="add")
    assert err.value.input_name == "image_2"
    with pytest.raises(NodeInputError) as err:
        node("ImageAddMulti")(CTX, inputcount=2, image_1=a, image_2=a, blending="screen")
    assert err.value.input_name == "blending"


# ------------------------------------------------------------------ LoadAndResizeImage


@pytest.fixture
def input_ctx(tmp_path) -> ExecContext:
    from PIL import Image

    rgba = Image.new("RGBA", (10, 6), (255, 0, 0, 255))
    for x in range(5):
        for y in range(6):
            rgba.putpixel((x, y), (0, 0, 255, 0))  # left half transparent blue
    rgba.save(tmp_path / "half.png")
    Image.new("RGB", (9, 7), (10, 200, 30)).save(tmp_path / "green.jpg", quality=100)
    return ExecContext(input_dir=tmp_path, output_dir=tmp_path / "out")


def load_resize(ctx, **inputs):
    return node("LoadAndResizeImage")(ctx, **{"mask_channel": "alpha", **inputs})  # a combo: no spec default


def test_load_and_resize_plain_load_with_inverted_alpha(input_ctx, tmp_path):
    image, mask, width, height, path = load_resize(input_ctx, image="half.png")
    assert image.shape == (1, 6, 10, 3) and (width, height) == (10, 6) and Path(path) == tmp_path / "half.png"
    assert torch.equal(mask[0, :, :5], torch.ones(6, 5)) and torch.equal(mask[0, :, 5:], torch.zeros(6, 5))
    assert torch.equal(image[0, 0, 9], torch.tensor([1.0, 0.0, 0.0]))


def test_load_and_resize_keep_proportion_divisible_and_repeat(input_ctx):
    from PIL import Image

    image, mask, width, height, _ = load_resize(input_ctx, image="half.png", resize=True, width=7, height=100,
                                                keep_proportion=True, divisible_by=2, repeat=3)
    # ratio min(7/10, 100/6) = 0.7: 7 x 4.2 -> round -> 7 x 4, then down to multiples of 2: 6 x 4
    assert (width, height) == (6, 4) and image.shape == (3, 4, 6, 3) and mask.shape == (3, 4, 6)
    want = Image.open(input_ctx.input_dir / "half.png").convert("RGB").resize((6, 4), Image.Resampling.BILINEAR)
    assert torch.allclose(image[1], torch.from_numpy(np.asarray(want).astype(np.float32) / 255))


def test_load_and_resize_background_and_channels(input_ctx):
    image, mask, *_ = load_resize(input_ctx, image="half.png", background_color="0, 255, 0")
    assert torch.equal(image[0, 0, 0], torch.tensor([0.0, 1.0, 0.0]))  # transparent pixels show the background
    assert torch.equal(mask[0, :, :5], torch.ones(6, 5))
    _, red, *_ = load_resize(input_ctx, image="half.png", mask_channel="red")
    assert torch.equal(red[0, :, 5:], torch.ones(6, 5)) and torch.equal(red[0, :, :5], torch.zeros(6, 5))
    _, none, *_ = load_resize(input_ctx, image="green.jpg")  # no alpha: the pack's 64x64 zero mask
    assert torch.equal(none, torch.zeros(1, 64, 64))


@pytest.mark.parametrize("inputs,name", [({"image": "missing.png"}, "image"), ({"image": "../etc/passwd"}, "image"),
                                         ({"mask_channel": "cyan"}, "mask_channel"),
                                         ({"resize": True, "width": 1, "divisible_by": 4}, "width")])
def test_load_and_resize_bad_inputs(input_ctx, inputs, name):
    with pytest.raises(NodeInputError) as err:
        load_resize(input_ctx, **{"image": "half.png", **inputs})
    assert err.value.input_name == name
