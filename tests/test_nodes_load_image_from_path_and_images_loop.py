"""Ib's LoadImageFromPath and Easy-Use's loadImagesForLoop (closed by easy forLoopEnd).

References: the image files are drawn here with numpy and read back by hand as the packs
read them (first frame, EXIF orientation, RGB / 255, mask ``1 - alpha`` or 64x64 zeros);
the loop's passes are the pack's arithmetic written out as plain Python (files sorted by
name, extension filter, ``imagesCountInDirectory``'s count, go on while ``index + 1 <
count``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from node_helpers import node
from wfrun.engine.plan import make_plan
from wfrun.engine.run import NodeError, run_plan
from wfrun.formats.document import from_data
from wfrun.graph import build
from wfrun.nodes.executor import ExecContext, NodeInputError


def _ctx(tmp_path: Path) -> ExecContext:
    (tmp_path / "input").mkdir(exist_ok=True)
    (tmp_path / "out").mkdir(exist_ok=True)
    return ExecContext(input_dir=tmp_path / "input", output_dir=tmp_path / "out")


def _draw(path: Path, size: tuple[int, int], seed: int, alpha: bool = False) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 4 if alpha else 3), dtype=np.uint8)
    Image.fromarray(pixels, "RGBA" if alpha else "RGB").save(path)
    return pixels


# ----------------------------------------------------------------------- LoadImageFromPath

def test_load_image_from_path_reads_rgb_with_a_64px_zero_mask(tmp_path):
    ctx = _ctx(tmp_path)
    pixels = _draw(tmp_path / "input" / "shots" / "a.png", (5, 3), 1)
    image, mask = node("LoadImageFromPath")(ctx, image="shots\\a.png")  # a Windows separator, as saved
    assert image.shape == (1, 3, 5, 3)
    assert torch.equal(image[0], torch.from_numpy(pixels.astype(np.float32) / 255.0))
    assert mask.shape == (64, 64) and not mask.any()  # the pack's mask has no batch axis


def test_load_image_from_path_alpha_mask_and_output_annotation(tmp_path):
    ctx = _ctx(tmp_path)
    pixels = _draw(tmp_path / "out" / "b.png", (4, 2), 2, alpha=True)
    image, mask = node("LoadImageFromPath")(ctx, image="b.png [output]")
    assert torch.equal(image[0], torch.from_numpy(pixels[..., :3].astype(np.float32) / 255.0))
    assert mask.shape == (2, 4)
    assert torch.allclose(mask, 1.0 - torch.from_numpy(pixels[..., 3].astype(np.float32) / 255.0))


def test_load_image_from_path_applies_exif_orientation(tmp_path):
    ctx = _ctx(tmp_path)
    pixels = np.random.default_rng(3).integers(0, 256, (2, 6, 3), dtype=np.uint8)  # 6 wide, 2 high
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to view
    Image.fromarray(pixels, "RGB").save(tmp_path / "input" / "r.jpg", exif=exif.tobytes(), quality=100)
    image, _ = node("LoadImageFromPath")(ctx, image="r.jpg")
    assert image.shape == (1, 6, 2, 3)  # upright: 2 wide, 6 high


@pytest.mark.parametrize("name", ["/etc/passwd", "E:\\ComfyUI\\output\\x.png", "../x.png", "", "missing.png"])
def test_load_image_from_path_stays_inside_the_folders(tmp_path, name):
    ctx = _ctx(tmp_path)
    _draw(tmp_path / "x.png", (2, 2), 4)  # beside the input folder: never reachable
    with pytest.raises(NodeInputError) as err:
        node("LoadImageFromPath")(ctx, image=name)
    assert err.value.input_name == "image"


# ----------------------------------------------------------------------- loadImagesForLoop

def run(prompt: dict, outputs: list[str], ctx: ExecContext):
    graph = build(from_data(json.loads(json.dumps(prompt)), "images_loop.json"))
    assert not graph.problems, graph.problems
    return run_plan(graph, make_plan(graph, outputs), ctx)


def images_loop(directory: str, start_index: int = 0, limit: int = -1) -> dict:
    """value1 collects the loaded names joined by ','; value2 the loaded widths joined by ';'
    (the width tells which file a pass read); node 9 reads the loop's value1 after it."""
    return {
        "1": {"class_type": "PrimitiveString", "inputs": {"value": "names"}},
        "2": {"class_type": "PrimitiveString", "inputs": {"value": ""}},
        "4": {"class_type": "easy loadImagesForLoop", "inputs": {
            "directory": directory, "start_index": start_index, "limit": limit,
            "initial_value1": ["1", 0], "initial_value2": ["2", 0]}},
        "5": {"class_type": "StringConcatenate", "inputs": {"string_a": ["4", 5], "string_b": ["4", 4],
                                                             "delimiter": ","}},
        "6": {"class_type": "GetImageSize", "inputs": {"image": ["4", 2]}},
        "7": {"class_type": "easy convertAnything", "inputs": {"*": ["6", 0], "output_type": "string"}},
        "8": {"class_type": "StringConcatenate", "inputs": {"string_a": ["4", 6], "string_b": ["7", 0],
                                                             "delimiter": ";"}},
        "10": {"class_type": "easy forLoopEnd", "inputs": {"flow": ["4", 0], "initial_value1": ["5", 0],
                                                            "initial_value2": ["8", 0]}},
        "9": {"class_type": "StringConcatenate", "inputs": {"string_a": ["10", 0], "string_b": "end",
                                                             "delimiter": "|"}},
    }


def folder(tmp_path: Path) -> dict[str, int]:
    """Image files of several widths (the width tells which file a pass read), and files the
    pack's filter leaves out; name -> width."""
    widths = {"b_02.PNG": 3, "a_10.jpg": 5, "c.webp": 7, "a_9.jpeg": 9}
    for i, (name, width) in enumerate(widths.items()):
        _draw(tmp_path / "input" / "frames" / name, (width, 2), 10 + i)
    (tmp_path / "input" / "frames" / "notes.txt").write_text("not an image")
    _draw(tmp_path / "input" / "frames" / "d.bmp", (11, 2), 20)  # bmp: not in the pack's list
    return widths


def pack_passes(widths: dict[str, int], start_index: int, limit: int) -> list[str]:
    """The pack's passes: sorted names (code-point order), count from imagesCountInDirectory."""
    files = sorted(widths)
    total = (len(files) - start_index if start_index > 0 else len(files)) if limit == -1 else limit
    index, names = 0, []
    while True:
        names.append(files[start_index + index])
        index += 1
        if not index < total:
            return names


@pytest.mark.parametrize("start_index,limit", [(0, -1), (1, -1), (0, 2), (2, 1), (1, 0)])
def test_images_loop_reads_one_sorted_image_per_pass(tmp_path, start_index, limit):
    ctx = _ctx(tmp_path)
    widths = folder(tmp_path)
    result = run(images_loop("frames", start_index, limit), ["9"], ctx)
    names = pack_passes(widths, start_index, limit)
    expected_names = ",".join(["names", *(n.rsplit(".", 1)[0] for n in names)])
    expected_widths = ";".join(["", *(str(widths[n]) for n in names)])
    assert result.outputs["9"] == (expected_names + "|end",)
    # the loop's outputs: value1, value2 as the end node last received them
    loop = run(images_loop("frames", start_index, limit), ["10"], ctx).outputs["10"]
    assert loop[:3] == (expected_names, expected_widths, None)


def test_images_loop_index_mask_and_output_folder(tmp_path):
    ctx = _ctx(tmp_path)
    pixels = _draw(tmp_path / "out" / "shots" / "only.png", (4, 3), 5, alpha=True)
    prompt = {
        "4": {"class_type": "easy loadImagesForLoop", "inputs": {"directory": "output/shots", "start_index": 0,
                                                                  "limit": -1}},
        "5": {"class_type": "MaskToImage", "inputs": {"mask": ["4", 3]}},
        "10": {"class_type": "easy forLoopEnd", "inputs": {"flow": ["4", 0], "initial_value1": ["5", 0],
                                                            "initial_value2": ["4", 1]}},
    }
    value1, index = run(prompt, ["10"], ctx).outputs["10"][:2]
    assert index == 0
    alpha = torch.from_numpy(pixels[..., 3].astype(np.float32) / 255.0)
    assert torch.allclose(value1[0, ..., 0], 1.0 - alpha)


@pytest.mark.parametrize("directory,start_index,limit,input_name", [
    ("frames", 0, 9, "limit"),          # more passes than images
    ("frames", 4, -1, "start_index"),   # past the last image (4 images, start 4: one pass at least)
    ("nowhere", 0, -1, "directory"),
    ("../frames", 0, -1, "directory"),
    ("/etc", 0, -1, "directory"),
    ("D:/ComfyUI/output/robe/Images", 0, -1, "directory"),
])
def test_images_loop_refusals_name_the_input(tmp_path, directory, start_index, limit, input_name):
    ctx = _ctx(tmp_path)
    folder(tmp_path)
    with pytest.raises(NodeError) as err:
        run(images_loop(directory, start_index, limit), ["9"], ctx)
    assert err.value.node.id == "4" and err.value.input_name == input_name


def test_an_empty_folder_is_refused(tmp_path):
    ctx = _ctx(tmp_path)
    (tmp_path / "input" / "empty").mkdir()
    with pytest.raises(NodeError) as err:
        run(images_loop("empty"), ["9"], ctx)
    assert err.value.input_name == "directory" and "no files" in str(err.value)
