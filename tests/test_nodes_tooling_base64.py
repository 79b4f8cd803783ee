"""comfyui-tooling-nodes' ETN_LoadImageBase64 against Pillow and numpy: the picture's RGB as
IMAGE, its alpha (not inverted) as MASK, no mask without alpha; bad text refused on ``image``;
and the --smoke stand-in for an inline picture an API template leaves empty."""

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


def _b64(img: Image.Image, fmt: str = "PNG") -> str:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return base64.b64encode(buf.getvalue()).decode()


def test_rgba_png_gives_rgb_and_alpha():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (5, 7, 4), dtype=np.uint8)
    image, mask = node("ETN_LoadImageBase64")(CTX, image=_b64(Image.fromarray(pixels, "RGBA")))
    assert image.shape == (1, 5, 7, 3) and image.dtype == torch.float32
    np.testing.assert_allclose(image[0].numpy(), pixels[..., :3] / 255.0, atol=1e-6)
    assert mask.shape == (5, 7)
    np.testing.assert_allclose(mask.numpy(), pixels[..., 3] / 255.0, atol=1e-6)  # alpha as is


def test_rgb_and_grey_give_no_mask():
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    image, mask = node("ETN_LoadImageBase64")(CTX, image=_b64(Image.fromarray(grey, "L")))
    assert mask is None
    np.testing.assert_allclose(image[0].numpy(), np.repeat(grey[..., None], 3, -1) / 255.0, atol=1e-6)


@pytest.mark.parametrize("text", ["", "   ", "{{BASE64_IMAGE}}", "data:image/png;base64,iVBORw0KGgo=",
                                  base64.b64encode(b"not an image").decode(), 12])
def test_bad_text_is_refused_on_image(text):
    with pytest.raises(NodeInputError) as err:
        node("ETN_LoadImageBase64")(CTX, image=text)
    assert err.value.input_name == "image"


def test_size_limit(monkeypatch):
    import wfrun.media.image as mod

    monkeypatch.setattr(mod, "MAX_BASE64_CHARS", 10)
    with pytest.raises(NodeInputError, match="over wfrun's limit"):
        node("ETN_LoadImageBase64")(CTX, image=_b64(Image.new("RGB", (4, 4))))


def test_smoke_stands_in_for_an_empty_inline_picture(tmp_path):
    from types import SimpleNamespace

    from wfrun.jobs.standins import _stand_in_base64

    empty = SimpleNamespace(id="1", label="Load", inputs={"image": ""})
    line = _stand_in_base64(empty, "image", "", tmp_path, True)
    assert line and "stand-in image" in line
    image, _ = node("ETN_LoadImageBase64")(CTX, image=empty.inputs["image"])
    assert image.shape[0] == 1 and image.shape[-1] == 3
    own = _b64(Image.new("RGB", (2, 2)))
    kept = SimpleNamespace(id="1", label="Load", inputs={"image": own})
    assert _stand_in_base64(kept, "image", own, tmp_path, True) is None
    assert kept.inputs["image"] == own
