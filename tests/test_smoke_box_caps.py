"""``--smoke`` caps a fit-into box (``keep_proportion``) side by side, not as an aspect.

KJNodes' LoadAndResizeImage with ``keep_proportion`` fits the picture into ``width`` x
``height`` keeping the picture's aspect (``ratio = min(width / W, height / H)``), then cuts each
side down to a multiple of ``divisible_by``. A box saved as 720x10000 ("fit the width") scaled
as a pair would be 16x64, into which the 64x48 stand-in fits as 16x12, cut to 16x0. Each side
capped at 64 on its own gives a 64x64 box: the picture stays 64x48.
"""

from __future__ import annotations

import json

from click.testing import CliRunner
from PIL import Image

from wfrun.cli import main
from wfrun.jobs.smoke import capped_ints
from wfrun.media.standins import HEIGHT, WIDTH


def test_a_box_is_capped_side_by_side_and_a_pair_keeps_its_aspect():
    ints = {"width": (720, 0), "height": (10000, 0)}
    assert capped_ints(ints, box=True) == {"width": 64, "height": 64}
    assert capped_ints(ints) == {"width": 16, "height": 64}  # 720/10000 of 64 px, floored at 16
    assert capped_ints({"width": (48, 0), "height": (10000, 0)}, box=True) == {"width": 48, "height": 64}


def prompt(keep_proportion: bool) -> dict:
    return {
        "1": {"class_type": "LoadAndResizeImage", "inputs": {
            "image": "face.png", "resize": True, "width": 720, "height": 10000, "repeat": 1,
            "keep_proportion": keep_proportion, "divisible_by": 16, "mask_channel": "alpha",
            "background_color": ""}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "fit"}},
    }


def test_the_fitted_stand_in_keeps_its_size_under_smoke(tmp_path):
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(prompt(True)))
    result = CliRunner().invoke(main, ["run", str(path), "--smoke", "-o", str(tmp_path / "out"), "--device", "cpu",
                                       "--format", "json"], env={"WFRUN_CACHE": str(tmp_path / "cache")})
    assert result.exit_code == 0, result.output
    saved = next(p for p in json.loads(result.stdout)["written"] if p.endswith(".png"))
    ratio = min(64 / WIDTH, 64 / HEIGHT)
    expected = tuple(round(v * ratio) // 16 * 16 for v in (WIDTH, HEIGHT))
    assert Image.open(saved).size == expected == (64, 48)
