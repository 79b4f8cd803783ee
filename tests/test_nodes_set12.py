"""Nodes and formats added for the twelfth public set. References: ComfyUI's queue entries
(``[number, prompt_id, prompt, extra_data, outputs_to_execute]``), the packs' formulas worked
by hand (Easy-Use's tile grid and feathered masks, was_affine's 2025-08-29 Latent Affine
Simple), and Sage3's switch handing the model on."""

from __future__ import annotations

import json
import logging
import math

import pytest
import torch

from node_helpers import node
from wfrun.engine.executors import load_packs
from wfrun.formats import FormatError, load_text
from wfrun.jobs.run import RunOptions, prepare
from wfrun.models.handles import CoreModel
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.was_affine.perlin import perlin_noise

load_packs()
CTX = ExecContext(device="cpu")


# --- a saved ComfyUI queue entry -----------------------------------------------------------

PROMPT = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
    "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "a"}},
    "3": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "b"}},
}


def test_queue_entry_reads_its_prompt_and_the_outputs_it_asks_for():
    doc = load_text(json.dumps([7, "s2v-workflow-id", PROMPT, {"client_id": "x"}, ["3"]]))
    assert doc.kind == "api" and doc.dump() == PROMPT and doc.outputs == ("3",)
    doc = load_text(json.dumps([7, "id", PROMPT]))  # without outputs_to_execute: every output
    assert doc.outputs is None
    doc = load_text(json.dumps([7, "id", PROMPT, {}, [2, "2"], {}]))  # ids as numbers; `sensitive` after them
    assert doc.outputs == ("2",)


def test_queue_entry_with_unknown_outputs_or_another_shape_is_refused():
    with pytest.raises(FormatError) as info:
        load_text(json.dumps([1, "id", PROMPT, {}, ["9"]]))
    assert info.value.problems[0].path == "[4]" and "9" in str(info.value)
    with pytest.raises(FormatError) as info:
        load_text(json.dumps([1, "id", PROMPT, {}, "3"]))
    assert "outputs_to_execute" in str(info.value)
    for other in ([PROMPT], ["id", 1, PROMPT], [1, "id", {"1": {"inputs": {}}}], [True, "id", PROMPT]):
        with pytest.raises(FormatError) as info:
            load_text(json.dumps(other))
        assert info.value.problems[0].code == "unknown-format"


def test_queue_entry_runs_only_the_outputs_it_asks_for(tmp_path):
    """ComfyUI executes only ``outputs_to_execute`` (and what they need)."""
    path = tmp_path / "item.json"
    path.write_text(json.dumps([1, "id", PROMPT, {}, ["3"]]))
    prepared = prepare(path, RunOptions(device="cpu", output_dir=tmp_path / "out", dry_run=True))
    assert prepared.plan.order == ["1", "3"]
    path.write_text(json.dumps(PROMPT))
    prepared = prepare(path, RunOptions(device="cpu", output_dir=tmp_path / "out", dry_run=True))
    assert sorted(prepared.plan.order) == ["1", "2", "3"]


# --- Sage3AttentionOnlySwitch (wallen0322/ComfyUI-SageAttention3) --------------------------

def test_sage3_switch_hands_the_model_on_with_a_notice(caplog, tmp_path):
    model = CoreModel(transformer=None, task="t2v", path=tmp_path / "m.safetensors", dtype=torch.float32,
                      latent_channels=16, shift=8.0)
    with caplog.at_level(logging.INFO):
        (out,) = node("Sage3AttentionOnlySwitch")(CTX, model=model, enable=True, print_backend=True)
    assert out is model and "SageAttention3" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO):
        (out,) = node("Sage3AttentionOnlySwitch")(CTX, model=model, enable=False, print_backend=False)
    assert out is model and "SageAttention3" not in caplog.text
    with pytest.raises(NodeInputError) as info:
        node("Sage3AttentionOnlySwitch")(CTX, model="a model", enable=True, print_backend=True)
    assert info.value.input_name == "model"


# --- LatentAffineSimple (was_affine, 2025-08-29) -------------------------------------------

def test_latent_affine_simple_perlin_scales_where_the_auto_tuned_field_is_set():
    x = torch.randn(1, 16, 3, 28, 42)
    out, mask = node("LatentAffineSimple")(CTX, latent={"samples": x, "batch_index": [0]}, scale=0.5,
                                            noise_pattern="perlin", seed=1492, temporal_mode="static",
                                            frame_seed_stride=9973)
    # the revision's _auto_params for a 28x42 latent: scale max(8, 28/14) = 8, 4 octaves, 0.6, 2.2
    m = perlin_noise(28, 42, 8.0, 4, 0.6, 2.2, 1492, torch.device("cpu"), torch.float32)
    assert torch.allclose(out["samples"], x * ((1 - m) + m * 0.5))
    assert out["batch_index"] == [0] and mask.shape == (3, 28, 42) and torch.equal(mask[2], m)


def test_latent_affine_simple_per_frame_checker_and_white_noise():
    x = torch.ones(1, 4, 2, 256, 128)
    out, mask = node("LatentAffineSimple")(CTX, latent={"samples": x}, scale=0.0, noise_pattern="checker", seed=0,
                                            temporal_mode="per_frame", frame_seed_stride=5)
    # checker squares max(4, 128 // 32) = 4 wide: the first square is unscaled, the next one zeroed
    assert out["samples"][0, 0, 0, 0, 3] == 1 and out["samples"][0, 0, 0, 0, 4] == 0
    out, _ = node("LatentAffineSimple")(CTX, latent={"samples": torch.ones(2, 4, 8, 8)}, scale=2.0,
                                        noise_pattern="white_noise", seed=3, temporal_mode="per_frame",
                                        frame_seed_stride=5)
    rng = torch.Generator().manual_seed(3)
    m = torch.rand((1, 1, 8, 8), generator=rng)
    assert torch.allclose(out["samples"], torch.ones(2, 4, 8, 8) * (1 + m))
    with pytest.raises(NodeInputError) as info:
        node("LatentAffineSimple")(CTX, latent={"samples": x}, scale=1.0, noise_pattern="bayer", seed=0,
                                   temporal_mode="static", frame_seed_stride=1)
    assert info.value.input_name == "noise_pattern"


# --- easy imageSplitTiles / easy imageTilesFromBatch ---------------------------------------

def test_split_tiles_with_overlap_cuts_the_pack_grid_and_feathers_the_masks():
    image = torch.arange(2 * 64 * 96 * 3, dtype=torch.float32).reshape(2, 64, 96, 3)
    tiles, masks, overlap, total = node("easy imageSplitTiles")(CTX, image=image, overlap_ratio=0.25, overlap_offset=3,
                                                               tiles_rows=2, tiles_cols=3, norm=True)
    # tile 32x32; overlap int(8) + 3 = 11, at most 16, normed down to 8
    assert overlap == (8, 8, 32, 32, 2, 3) and total == 6
    assert tiles.shape == (12, 40, 40, 3) and masks.shape == (6, 40, 40)
    # tile (row 1, col 2) starts at y = 32 - 8, x = 64 - 8: frames 10 and 11 of the batch
    assert torch.equal(tiles[10:12], image[:, 24:64, 56:96, :])
    assert torch.equal(tiles[0:2], image[:, 0:40, 0:40, :])  # the first tile: no overlap before it
    assert torch.equal(masks[0], torch.ones(40, 40))
    ramp = torch.tensor([(k + 1) / 8 for k in range(8)])
    assert torch.allclose(masks[1][0, :8], ramp) and torch.all(masks[1][:, 8:] == 1)  # left feather only
    assert torch.allclose(masks[4][:8, 20], ramp) and torch.allclose(masks[4][20, :8], ramp)  # left and top
    assert math.isclose(masks[4][0, 0].item(), 1 / 64)


def test_tiles_from_batch_picks_the_frame_and_the_place():
    image = torch.rand(1, 64, 96, 3)
    tiles, masks, overlap, _ = node("easy imageSplitTiles")(CTX, image=image, overlap_ratio=0.25, overlap_offset=0,
                                                           tiles_rows=2, tiles_cols=3, norm=True)
    for index, (x, y) in enumerate([(0, 0), (24, 0), (56, 0), (0, 24), (24, 24), (56, 24)]):
        tile, mask, tx, ty = node("easy imageTilesFromBatch")(CTX, tiles=tiles, masks=masks, overlap=overlap,
                                                              index=index)
        assert (tx, ty) == (x, y) and torch.equal(tile[0], image[0, y:y + 40, x:x + 40])
        assert torch.equal(mask, masks[index:index + 1])
    tile, mask, _, _ = node("easy imageTilesFromBatch")(CTX, tiles=tiles, masks=masks, overlap=overlap, index=50)
    assert torch.equal(tile, tiles[5:6]) and torch.equal(mask, masks[5:6])  # clamped to the last


def test_single_row_or_column_has_no_overlap_there():
    image = torch.rand(1, 48, 64, 3)
    tiles, masks, overlap, total = node("easy imageSplitTiles")(CTX, image=image, overlap_ratio=0.5, overlap_offset=0,
                                                               tiles_rows=1, tiles_cols=2, norm=False)
    assert overlap == (16, 0, 32, 48, 1, 2) and total == 2 and tiles.shape == (2, 48, 48, 3)
    assert torch.equal(tiles[1], image[0, :, 16:64])


# --- WanVideoVACES4frames (rauldlnx10's wrapper nodes.py) ----------------------------------

def test_s4frames_places_follow_the_node():
    from wfrun.packs.wanvideo_s4frames.nodes import places
    assert places(41) == (0, 14, 27, 40)  # round(13.67), round(27.33)
    assert places(81) == (0, 27, 54, 80)
    assert places(5) == (0, 2, 3, 4)
    for n in (3, 4):  # 4 frames: 0, 1, 3 and then 4, past the end, which the node refuses too
        with pytest.raises(NodeInputError):
            places(n)


def test_s4frames_puts_the_images_at_their_places_grey_elsewhere():
    a, b, c = torch.full((1, 8, 16, 3), 0.1), torch.full((1, 8, 16, 3), 0.2), torch.full((2, 8, 16, 3), 0.3)
    images, masks = node("WanVideoVACES4frames")(CTX, num_frames=9, empty_frame_level=0.5, start_image=a,
                                                 second_intermediate_image=b, end_image=c)
    # places 0, 3, 6, 8; the two-frame end image takes two frames there, so the batch has 10
    assert images.shape == (10, 8, 16, 3) and masks.shape == (9, 8, 16)
    assert images[0, 0, 0, 0] == pytest.approx(0.1) and images[6, 0, 0, 0] == pytest.approx(0.2)
    assert images[8, 0, 0, 0] == pytest.approx(0.3) and images[9, 0, 0, 0] == pytest.approx(0.3)
    assert images[3, 0, 0, 0] == 0.5 and images[7, 0, 0, 0] == 0.5
    assert [int(m.max()) for m in masks] == [0, 1, 1, 1, 1, 1, 0, 1, 0]


def test_s4frames_control_fills_empty_frames_and_inpaint_mask_replaces_masks():
    a = torch.zeros(1, 8, 8, 3)
    control = torch.rand(3, 8, 8, 3).mul(255).round().div(255)  # 8-bit values: Lanczos at the same size keeps them
    images, masks = node("WanVideoVACES4frames")(CTX, num_frames=6, empty_frame_level=0.5, start_image=a,
                                                 control_images=control, inpaint_mask=torch.full((1, 4, 4), 0.25))
    assert torch.equal(images[0], a[0]) and torch.allclose(images[1:3], control[1:3], atol=1e-6)
    assert images[3, 0, 0, 0] == 0.5  # no control frame 3
    assert masks.shape == (6, 8, 8) and torch.all(masks == 0.25)  # the start image's 0 is replaced too
    with pytest.raises(NodeInputError) as info:
        node("WanVideoVACES4frames")(CTX, num_frames=9, empty_frame_level=0.5)
    assert info.value.input_name == "start_image"
