"""KJNodes' PreviewAnimation: one animated WebP in the temp folder with the pack's frames
(images; masks as grey; images overlaid with white through their masks) and frame time."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.kjnodes.preview_animation import preview_frames


def _ctx(tmp_path) -> ExecContext:
    return ExecContext(output_dir=tmp_path / "out")


def _read(path):
    with Image.open(path) as im:
        frames = []
        for i in range(im.n_frames):
            im.seek(i)
            im.load()
            frames.append((im.size, im.info.get("duration")))
        return frames


def test_images_become_one_animated_webp_in_the_temp_folder(tmp_path):
    ctx = _ctx(tmp_path)
    images = torch.rand(5, 16, 24, 3, generator=torch.Generator().manual_seed(0))
    assert node("PreviewAnimation")(ctx, fps=8.0, images=images) == ()
    (path,) = ctx.written
    assert path.parent == tmp_path / "out" / "temp" and path.name == "AnimPreview_00001_.webp"
    assert _read(path) == [((24, 16), 125)] * 5  # int(1000 / 8) ms a frame
    node("PreviewAnimation")(ctx, fps=8.0, masks=torch.rand(2, 16, 24))
    assert ctx.written[1].name == "AnimPreview_00002_.webp" and len(_read(ctx.written[1])) == 2


def test_masks_overlay_white_through_their_alpha():
    g = torch.Generator().manual_seed(1)
    images, masks = torch.rand(3, 8, 8, 3, generator=g), torch.rand(3, 8, 8, generator=g)
    frames = preview_frames(images, masks)
    base = np.clip(255.0 * images.numpy(), 0, 255).astype(np.uint8).astype(float)
    alpha = np.clip(255.0 * masks.numpy(), 0, 255).astype(np.uint8).astype(float)[..., None]
    expected = (255.0 * alpha + base * (255.0 - alpha)) / 255.0  # white over the image by the mask
    got = np.stack([np.asarray(f)[..., :3] for f in frames]).astype(float)
    assert np.abs(got - expected).max() <= 1.0
    # fewer masks than images: the pack moves the composited ones behind the others
    order = preview_frames(images, masks[:1])
    assert order[0].mode == "RGB" and order[-1].mode == "RGBA"
    assert [f.mode for f in preview_frames(None, masks)] == ["L"] * 3


def test_nothing_given_writes_nothing_and_bad_input_is_named(tmp_path):
    ctx = _ctx(tmp_path)
    assert node("PreviewAnimation")(ctx, fps=8.0) == () and ctx.written == []
    with pytest.raises(NodeInputError) as err:
        node("PreviewAnimation")(ctx, fps=8.0, images=torch.rand(8, 8, 3))
    assert err.value.input_name == "images"
