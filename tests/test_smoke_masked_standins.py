"""``--smoke`` stand-ins for pictures whose mask the workflow uses.

A LoadImage whose MASK output feeds a node (a speaker's area painted in ComfyUI's mask editor)
gets a picture with a transparent disc: ComfyUI's mask is ``1 - alpha`` (its ``LoadImage``),
so the mask is that disc, worked out here from the circle's equation. A LoadImage whose mask
nobody reads keeps the plain picture (no alpha: ComfyUI's empty 64x64 mask).
"""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner
from PIL import Image

from wfrun.cli import main
from wfrun.media.standins import HEIGHT, WIDTH, write_standin


def disc(width: int, height: int) -> np.ndarray:
    """A centred disc, a third of the shorter side in radius, measured from pixel corners."""
    ys, xs = np.mgrid[0:height, 0:width]
    return (xs - width / 2) ** 2 + (ys - height / 2) ** 2 <= (min(width, height) / 3) ** 2


def test_the_masked_picture_is_the_still_with_the_disc_transparent(tmp_path):
    plain = np.asarray(Image.open(write_standin(tmp_path, "a.png", "image")))
    with Image.open(write_standin(tmp_path, "clipspace-painted-masked-1.png", "masked_image")) as img:
        assert img.mode == "RGBA" and img.size == (WIDTH, HEIGHT)
        rgba = np.asarray(img)
    assert np.array_equal(rgba[..., :3], plain)
    assert np.array_equal(rgba[..., 3] == 0, disc(WIDTH, HEIGHT))
    assert set(np.unique(rgba[..., 3])) == {0, 255}


def prompt() -> dict:
    """Two missing pictures: the mask of one is saved (as an image), the other saved as is."""
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": "clipspace/painted-masked.png [input]"}},
        "2": {"class_type": "MaskToImage", "inputs": {"mask": ["1", 1]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "mask"}},
        "4": {"class_type": "LoadImage", "inputs": {"image": "portrait.png"}},
        "5": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "plain"}},
    }


def test_a_loader_whose_mask_is_read_gets_the_painted_picture(tmp_path):
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(prompt()))
    result = CliRunner().invoke(main, ["run", str(path), "--smoke", "-o", str(tmp_path / "out"), "--device", "cpu",
                                       "--format", "json"], env={"WFRUN_CACHE": str(tmp_path / "cache")})
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    written = {p.rsplit("/", 1)[-1].split("_")[0]: p for p in report["written"]}
    mask = np.asarray(Image.open(written["mask"]).convert("L"))
    assert mask.shape == (HEIGHT, WIDTH)
    assert np.array_equal(mask == 255, disc(WIDTH, HEIGHT)) and set(np.unique(mask)) == {0, 255}
    with Image.open(written["plain"]) as img:  # the same scene, no alpha to begin with
        assert img.size == (WIDTH, HEIGHT)
    lines = report["standins"]
    assert any("'portrait.png' is missing: a stand-in image (" in s for s in lines)
    assert any("painted-masked.png [input]' is missing: a stand-in masked_image" in s for s in lines)
