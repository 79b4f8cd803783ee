"""Easy-Use's value, switch, batch, colour-match and base64 nodes, against the pack's rules
written out here (Python's round, list/tuple rules), numpy statistics and Pillow."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
import torch
from PIL import Image

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError

CTX = ExecContext()


def test_int_seed_float():
    assert node("easy int")(CTX, value=81) == (81,)
    assert node("easy int")(CTX) == (0,)  # the spec's default
    assert node("easy seed")(CTX, seed=1055273755489808) == (1055273755489808,)
    assert node("easy float")(CTX, value=0.12345) == (0.123,)
    assert node("easy float")(CTX, value=2.0005) == (round(2.0005, 3),)


@pytest.mark.parametrize("class_type,name,value", [("easy int", "value", "81"), ("easy int", "value", True),
                                                   ("easy int", "value", 2.5), ("easy seed", "seed", None),
                                                   ("easy float", "value", "0.5")])
def test_bad_numbers_are_named(class_type, name, value):
    with pytest.raises(NodeInputError) as err:
        node(class_type)(CTX, **{name: value})
    assert err.value.input_name == name


def test_prompt_concat():
    assert node("easy promptConcat")(CTX, prompt1="a cat", prompt2="a hat", separator=", ") == ("a cat, a hat",)
    assert node("easy promptConcat")(CTX, prompt1="x") == ("x",)
    assert node("easy promptConcat")(CTX, prompt1=["a", "b"], prompt2="c", separator="|") == ("a, b|c",)
    with pytest.raises(NodeInputError) as err:
        node("easy promptConcat")(CTX, prompt2=torch.zeros(1))
    assert err.value.input_name == "prompt2"


def test_image_switch():
    a, b = torch.zeros(1, 2, 2, 3), torch.ones(1, 2, 2, 3)
    assert node("easy imageSwitch")(CTX, image_a=a, image_b=b, boolean=True)[0] is a
    assert node("easy imageSwitch")(CTX, image_a=a, image_b=b)[0] is b  # default false
    with pytest.raises(NodeInputError) as err:
        node("easy imageSwitch")(CTX, image_a=a, image_b="x", boolean=False)
    assert err.value.input_name == "image_b"


def test_batch_anything_images_are_joined_and_the_second_resized():
    a, b = torch.rand(2, 4, 6, 3), torch.full((1, 8, 12, 3), 0.5)
    out, = node("easy batchAnything")(CTX, any_1=a, any_2=b)
    assert out.shape == (3, 4, 6, 3)
    assert torch.equal(out[:2], a)
    assert torch.allclose(out[2], torch.full((4, 6, 3), 0.5))  # bilinear keeps a flat level


def test_batch_anything_scalars_and_lists_in_the_pack_order():
    batch = node("easy batchAnything")
    assert batch(CTX, any_1=1, any_2=2) == ([1, 2],)
    assert batch(CTX, any_1="c", any_2=["a", "b"]) == (["a", "b", "c"],)
    assert batch(CTX, any_1=[1], any_2=2) == ([1, 2],)
    assert batch(CTX, any_1=(1,), any_2=2.5) == ((1, 2.5),)
    assert batch(CTX, any_1=[1, 2], any_2=[3]) == ([1, 2, 3],)  # the final any_1 + any_2


def test_batch_anything_latents_keep_batch_index():
    l1 = {"samples": torch.zeros(1, 16, 3, 4, 4)}
    l2 = {"samples": torch.ones(2, 16, 3, 8, 8), "batch_index": [5, 6]}
    out, = node("easy batchAnything")(CTX, any_1=l1, any_2=l2)
    assert out["samples"].shape == (3, 16, 3, 4, 4)
    assert torch.allclose(out["samples"][1:], torch.ones(2, 16, 3, 4, 4))
    assert out["batch_index"] == [0, 5, 6]


def test_batch_anything_refuses_what_cannot_be_joined():
    with pytest.raises(NodeInputError) as err:
        node("easy batchAnything")(CTX, any_1={"samples": torch.zeros(1, 4, 2, 2)}, any_2={"x": 1})
    assert err.value.input_name == "any_2"
    with pytest.raises(NodeInputError) as err:
        node("easy batchAnything")(CTX, any_1=torch.zeros(1, 2, 2, 3), any_2=torch.zeros(1, 2, 2, 4))
    assert err.value.input_name == "any_2"


# ------------------------------------------------------------------ imageColorMatch


def test_color_match_mkl_gives_the_reference_mean_and_covariance():
    rng = np.random.default_rng(0)
    target = torch.from_numpy(rng.random((2, 16, 16, 3), dtype=np.float32) * 0.5)
    ref = torch.from_numpy(rng.random((1, 16, 16, 3), dtype=np.float32) * 0.3 + 0.6)
    out, = node("easy imageColorMatch")(CTX, image_ref=ref, image_target=target, method="mkl", image_output="Hide")
    want = ref[0].reshape(-1, 3).double().numpy()
    for frame in out:
        got = frame.reshape(-1, 3).double().numpy()
        assert np.allclose(got.mean(0), want.mean(0), atol=1e-5)
        assert np.allclose(np.cov(got.T), np.cov(want.T), atol=1e-5)


def test_color_match_adain_on_8_bit_values():
    rng = np.random.default_rng(1)
    target = torch.from_numpy(rng.random((1, 8, 8, 3), dtype=np.float32))
    ref = torch.from_numpy(rng.random((1, 8, 8, 3), dtype=np.float32) * 0.2 + 0.4)
    out, = node("easy imageColorMatch")(CTX, image_ref=ref, image_target=target, method="adain", image_output="Hide")
    t = np.clip(255 * target[0].numpy(), 0, 255).astype(np.uint8).astype(np.float64) / 255
    r = np.clip(255 * ref[0].numpy(), 0, 255).astype(np.uint8).astype(np.float64) / 255
    want = ((t - t.mean((0, 1))) / np.sqrt(t.var((0, 1), ddof=1) + 1e-5) * np.sqrt(r.var((0, 1), ddof=1) + 1e-5)
            + r.mean((0, 1)))
    want = (np.clip(want, 0, 1) * 255).astype(np.uint8) / 255
    assert np.allclose(out[0].numpy(), want, atol=1 / 255 + 1e-6)


def test_color_match_wavelet_keeps_detail_and_takes_the_reference_base():
    target = torch.full((1, 32, 32, 3), 0.2)
    target[0, 16, 16] = 0.8  # one bright detail pixel
    ref = torch.full((1, 16, 16, 3), 0.6)
    out, = node("easy imageColorMatch")(CTX, image_ref=ref, image_target=target, method="wavelet",
                                        image_output="Hide")
    assert out.shape == (1, 32, 32, 3)
    assert abs(float(out[0, 0, 0, 0]) - 0.6) <= 1 / 255  # the flat base is the reference's
    assert float(out[0, 16, 16, 0]) > 0.9  # the detail rides on it


def test_color_match_bad_inputs():
    image = torch.rand(2, 4, 4, 3)
    with pytest.raises(NodeInputError) as err:
        node("easy imageColorMatch")(CTX, image_ref=image[:1], image_target=image, method="adain", image_output="Hide")
    assert err.value.input_name == "image_target"
    with pytest.raises(NodeInputError) as err:
        node("easy imageColorMatch")(CTX, image_ref=torch.rand(3, 4, 4, 3), image_target=image, method="mkl",
                                     image_output="Hide")
    assert err.value.input_name == "image_ref"
    with pytest.raises(NodeInputError) as err:
        node("easy imageColorMatch")(CTX, image_ref=image, image_target=image, method="lab", image_output="Hide")
    assert err.value.input_name == "method"


def test_color_match_save_writes_a_file(tmp_path):
    ctx = ExecContext(output_dir=tmp_path)
    image = torch.rand(1, 4, 4, 3)
    node("easy imageColorMatch")(ctx, image_ref=image, image_target=image, method="hm", image_output="Save",
                                 save_prefix="match")
    assert [p.name for p in tmp_path.glob("match*.png")] == ["match_00001_.png"]


# ------------------------------------------------------------------ loadImageBase64


def encoded(img: Image.Image, fmt: str = "PNG") -> str:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt)
    return base64.b64encode(buffer.getvalue()).decode()


def test_load_base64_rgba_gives_the_alpha_as_mask():
    rgba = np.zeros((3, 5, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 51
    image, mask = node("easy loadImageBase64")(CTX, base64_data=encoded(Image.fromarray(rgba, "RGBA")),
                                               image_output="Hide")
    assert image.shape == (1, 3, 5, 3) and mask.shape == (1, 3, 5)
    assert torch.allclose(image[..., 0], torch.full((1, 3, 5), 200 / 255))
    assert torch.allclose(mask, torch.full((1, 3, 5), 51 / 255))  # not inverted, as the pack


def test_load_base64_rgb_mask_is_ones():
    image, mask = node("easy loadImageBase64")(CTX, base64_data=encoded(Image.new("RGB", (4, 2), (0, 255, 0))),
                                               image_output="Hide")
    assert torch.equal(image[0, 0, 0], torch.tensor([0.0, 1.0, 0.0])) and torch.equal(mask, torch.ones(1, 2, 4))


@pytest.mark.parametrize("data", ["", "   ", "data:image/png;base64,AAAA", "bm90IGFuIGltYWdl", "@@@", 5])
def test_load_base64_bad_data_is_named(data):
    with pytest.raises(NodeInputError) as err:
        node("easy loadImageBase64")(CTX, base64_data=data, image_output="Hide")
    assert err.value.input_name == "base64_data"
