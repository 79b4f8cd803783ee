"""Lists through whole workflows, as ComfyUI runs them: a list from a folder loader or from
CreateList runs a plain image node once per item, and an output node fed the list writes
one file per item; RebatchImages joins a list back into one batch.

References: each source image read with Pillow and scaled by hand (``nearest-exact`` at
2x repeats every pixel twice on each axis), and the counts of calls and files ComfyUI's
rules give for these graphs (``execution.py``'s ``_map_node_over_list``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from wfrun.jobs.run import RunOptions, run_file


def _draw(path: Path, color: tuple, size: tuple) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(sum(color))
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    pixels[0, 0] = color
    Image.fromarray(pixels, "RGB").save(path)
    return pixels


def _doubled(pixels: np.ndarray) -> np.ndarray:
    return pixels.repeat(2, axis=0).repeat(2, axis=1)


def _run(tmp_path: Path, prompt: dict):
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(prompt), encoding="utf-8")
    options = RunOptions(output_dir=tmp_path / "out", input_dir=tmp_path / "input", device="cpu")
    return run_file(path, options)


def _saved(report, prefix: str) -> list[np.ndarray]:
    files = sorted(p for p in report.result.written if p.name.startswith(prefix) and p.suffix == ".png")
    out = []
    for file in files:
        with Image.open(file) as image:
            out.append(np.asarray(image.convert("RGB")))
    return out


def _frames(path: Path) -> int:
    with Image.open(path) as image:
        return image.n_frames


def _scale(source: list) -> dict:
    return {"class_type": "ImageScaleBy", "inputs": {"image": source, "upscale_method": "nearest-exact",
                                                     "scale_by": 2.0}}


def test_a_folder_list_runs_the_scale_per_image_and_saves_one_file_each(tmp_path):
    folder = tmp_path / "input" / "shots"
    sources = [_draw(folder / f"{i}.png", (i * 40, 0, 0), size) for i, size in enumerate([(6, 4), (4, 4), (3, 5)])]
    prompt = {
        "1": {"class_type": "LoadImageListFromDir //Inspire",
              "inputs": {"directory": "shots", "image_load_cap": 0, "start_index": 0, "load_always": False,
                         "sort_method": "Alphabetical (ASC)"}},
        "2": _scale(["1", 0]),
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "each"}},
    }
    report = _run(tmp_path, prompt)
    saved = _saved(report, "each")
    assert len(saved) == 3  # images of three sizes: no batch could hold them, a list does
    for got, source in zip(saved, sources):
        np.testing.assert_array_equal(got, _doubled(source))


def test_create_list_runs_per_item_and_rebatch_joins_it_for_one_video(tmp_path):
    a = _draw(tmp_path / "input" / "a.png", (10, 0, 0), (4, 4))
    b = _draw(tmp_path / "input" / "b.png", (20, 0, 0), (4, 4))
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "a.png"}},
        "2": {"class_type": "LoadImage", "inputs": {"image": "b.png"}},
        "3": {"class_type": "CreateList", "inputs": {"inputs.input0": ["1", 0], "inputs.input1": ["2", 0]}},
        "4": _scale(["3", 0]),
        "5": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "item"}},
        "6": {"class_type": "RebatchImages", "inputs": {"images": ["4", 0], "batch_size": 4096}},
        "7": {"class_type": "VHS_VideoCombine",
              "inputs": {"images": ["6", 0], "frame_rate": 8, "loop_count": 0, "filename_prefix": "joined",
                         "format": "image/webp", "pingpong": False, "save_output": True}},
        "8": {"class_type": "VHS_VideoCombine",
              "inputs": {"images": ["4", 0], "frame_rate": 8, "loop_count": 0, "filename_prefix": "apart",
                         "format": "image/webp", "pingpong": False, "save_output": True}},
    }
    report = _run(tmp_path, prompt)
    saved = _saved(report, "item")
    assert len(saved) == 2
    np.testing.assert_array_equal(saved[0], _doubled(a))
    np.testing.assert_array_equal(saved[1], _doubled(b))
    # the joined list is one batch of two frames: one animation; fed the list, the node runs
    # per item, as in ComfyUI: one single-frame animation each
    joined = [p for p in report.result.written if p.name.startswith("joined") and p.suffix == ".webp"]
    apart = [p for p in report.result.written if p.name.startswith("apart") and p.suffix == ".webp"]
    assert len(joined) == 1 and len(apart) == 2
    assert [_frames(p) for p in joined] == [2] and [_frames(p) for p in apart] == [1, 1]
