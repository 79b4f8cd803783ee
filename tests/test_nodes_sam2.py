"""ComfyUI-segment-anything-2 on transformers' SAM 2: the key conversion, the loader,
Sam2Segmentation (single image and video) and Florence2toCoordinates.

References, independent of wfrun's call path:

- the tensor names and shapes of Meta's ``SAM2Base`` for all eight configs the pack ships
  (``tests/data/sam2_original_keys.json.gz``, listed from the pack's own model classes):
  every one must map onto transformers' models, strictly, and give Meta's Hiera sizes;
- the tiny file's weights against the seeded transformers model it was written from;
- single-image masks against transformers' ``Sam2Model.forward`` on a directly built model
  (``load_state_dict(strict=True)``), with the pack's preprocessing written out here (resize
  to the square, ImageNet normalization, points scaled to the square, best of three by IoU);
- video masks against transformers' ``Sam2VideoModel`` driven frame by frame through its
  inference session (``model(session, frame_idx=i)``), not the propagation iterator wfrun uses.
"""

from __future__ import annotations

import functools
import gzip
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from wfrun.models import convert_sam2
from wfrun.models.header import CheckpointError, TensorInfo
from wfrun.models.mapping import build_plan, check_plan
from wfrun.models.paths import ModelRoots
from wfrun.models.tiny_sam2 import tiny_config, tiny_reference, write_tiny_sam2
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.segment_anything2.nodes import file_names, load_sam2_model
from wfrun.packs.segment_anything2.prompts import parse_boxes, parse_points, point_prompts

from tests.node_helpers import node

sam2_segmentation = node("Sam2Segmentation")
florence2_to_coordinates = node("Florence2toCoordinates")

KEYS = Path(__file__).parent / "data" / "sam2_original_keys.json.gz"
NAME = "sam2.1_hiera_base_plus.safetensors"
NAME20 = "sam2_hiera_tiny.safetensors"
#: The seeded models the tiny files are written from (built once: a forward never changes them).
reference_model = functools.lru_cache(maxsize=None)(tiny_reference)
POS = '[{"x": 20.5, "y": 14}, {"x": 40, "y": 30}]'
NEG = "[{'x': 5, 'y': 35}]"


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("sam2") / "models"
    write_tiny_sam2(root / "sam2" / NAME, version="2.1")
    write_tiny_sam2(root / "sam2" / NAME20, version="2.0", seed=1)
    return root


@pytest.fixture(scope="module")
def ctx(models_dir):
    return ExecContext(models=ModelRoots.from_options(models_dir))


@pytest.fixture(scope="module")
def frames():
    torch.manual_seed(3)
    return torch.rand(3, 40, 56, 3)


def _load(ctx, segmentor, name=NAME, precision="fp16"):
    return load_sam2_model(ctx, model=name, segmentor=segmentor, device="cuda", precision=precision)[0]


# --- the key conversion ---------------------------------------------------------------------------

#: Meta's configs: (width, blocks per stage, heads of stage 1, global-attention blocks).
META = {"t": (96, [1, 2, 7, 2], 1, [5, 7, 9]), "s": (96, [1, 2, 11, 2], 1, [7, 10, 13]),
        "b+": (112, [2, 3, 16, 3], 2, [12, 16, 20]), "l": (144, [2, 6, 36, 4], 2, [23, 33, 43])}


@pytest.mark.parametrize("name", ["sam2_hiera_t", "sam2.1_hiera_t", "sam2_hiera_s", "sam2.1_hiera_s",
                                  "sam2_hiera_b+", "sam2.1_hiera_b+", "sam2_hiera_l", "sam2.1_hiera_l"])
def test_real_layouts_map_completely_onto_transformers(name):
    from accelerate import init_empty_weights

    from wfrun.models.mapping import expected_shapes_with_point_rows as expected_shapes
    from wfrun.models.sam2 import build_model

    keys = json.loads(gzip.open(KEYS, "rt").read())[name]
    tensors = {k: TensorInfo("F16", tuple(v)) for k, v in keys.items()}
    facts = convert_sam2.read_facts(name, tensors)
    width, stages, heads, global_blocks = META[name.rsplit("_", 1)[1]]
    hiera = facts.config.vision_config.backbone_config
    assert facts.version == ("2.1" if name.startswith("sam2.1") else "2.0")
    assert (hiera.hidden_size, hiera.blocks_per_stage, hiera.num_attention_heads_per_stage[0],
            hiera.global_attention_blocks) == (width, stages, heads, global_blocks)
    assert hiera.window_size_per_stage == [8, 4, 14, 7]  # the pack's trunk never reads window_spec
    assert facts.config.enable_occlusion_spatial_embedding == (facts.version == "2.1")
    for video in (True, False):
        plan = build_plan(name, tensors, "", convert_sam2.make_rename(tensors, video=video), label="x")
        with init_empty_weights(include_buffers=False):
            model = build_model(facts.config, video=video)
        check_plan(name, plan, tensors, expected_shapes(model), label="x")  # every tensor, every shape
        used = {t.source for t in plan.takes.values()}
        assert (used == set(tensors)) == video  # the image model leaves the memory parts unread


def test_an_unknown_key_or_another_model_is_refused(tmp_path):
    keys = json.loads(gzip.open(KEYS, "rt").read())["sam2.1_hiera_t"]
    tensors = {k: TensorInfo("F16", tuple(v)) for k, v in keys.items()}
    tensors["sam_mask_decoder.extra.weight"] = TensorInfo("F16", (1,))
    with pytest.raises(CheckpointError, match="sam_mask_decoder.extra.weight"):
        build_plan("f", tensors, "", convert_sam2.make_rename(tensors, video=True), label="x")
    with pytest.raises(CheckpointError, match="not a SAM 2 checkpoint"):
        convert_sam2.read_facts("f", {"blocks.0.weight": TensorInfo("F16", (2,))})


@pytest.mark.parametrize("version,seed", [("2.1", 0), ("2.0", 1)])
def test_the_tiny_file_loads_into_the_model_it_was_written_from(models_dir, version, seed):
    from wfrun.models.sam2 import load_sam2

    path = models_dir / "sam2" / (NAME if version == "2.1" else NAME20)
    reference = tiny_reference(version, seed).state_dict()
    model, facts = load_sam2(path, video=True)
    assert facts.version == version
    assert model.config.to_diff_dict() == tiny_config(version).to_diff_dict()
    state = model.state_dict()
    assert state.keys() == reference.keys()
    assert all(torch.equal(state[k], reference[k]) for k in state)
    image_model, _ = load_sam2(path, video=False)
    assert all(torch.equal(v, reference[k]) for k, v in image_model.state_dict().items())


# --- DownloadAndLoadSAM2Model ---------------------------------------------------------------------


def test_loader_names_and_errors(ctx, models_dir):
    assert file_names("sam2.1_hiera_large.safetensors", "fp16") == ["sam2.1_hiera_large-fp16.safetensors",
                                                                     "sam2.1_hiera_large.safetensors"]
    assert file_names("sam2_hiera_large.safetensors", "fp16") == ["sam2_hiera_large.safetensors"]
    assert file_names("sam2.1_hiera_large.safetensors", "fp32") == ["sam2.1_hiera_large.safetensors"]
    value = _load(ctx, "video")
    assert (value.segmentor, value.version, value.dtype) == ("video", "2.1", torch.float32)  # CPU: fp32
    assert type(value.model).__name__ == "Sam2VideoModel"
    assert type(_load(ctx, "single_image").model).__name__ == "Sam2Model"
    with pytest.raises(NodeInputError, match="not found") as err:
        _load(ctx, "video", name="sam2.1_hiera_large.safetensors")
    assert err.value.input_name == "model" and "sam2.1_hiera_large-fp16.safetensors" in err.value.hint
    (models_dir / "sam2" / "junk.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    with pytest.raises(NodeInputError) as err:
        _load(ctx, "video", name="junk.safetensors")
    assert err.value.input_name == "model"
    with pytest.raises(NodeInputError) as err:
        load_sam2_model(ctx, model=NAME, segmentor="tracking", device="cuda", precision="fp16")
    assert err.value.input_name == "segmentor"


# --- prompts -------------------------------------------------------------------------------------


def test_points_are_parsed_and_arranged_as_the_pack_does():
    assert parse_points(POS, "p") == [(20.5, 14.0), (40.0, 30.0)]
    assert parse_points(NEG, "n") == [(5.0, 35.0)]  # single quotes, as the pack swaps them
    coords, labels = point_prompts([(1, 2), (3, 4)], [(5, 6)], individual=False)
    assert coords.tolist() == [[[1, 2], [3, 4], [5, 6]]] and labels.tolist() == [[1, 1, 0]]
    coords, labels = point_prompts([(1, 2), (3, 4), (7, 8)], [(5, 6), (9, 9)], individual=True)
    # one object per positive point, paired in order with a negative, the first one repeated
    assert coords.tolist() == [[[1, 2], [5, 6]], [[3, 4], [9, 9]], [[7, 8], [5, 6]]]
    assert labels.tolist() == [[1, 0]] * 3
    coords, labels = point_prompts([(1, 2), (3, 4)], None, individual=True)
    assert coords.tolist() == [[[1, 2]], [[3, 4]]] and labels.tolist() == [[1], [1]]
    assert parse_boxes([[1, 2, 3, 4], (5, 6, 7, 8)]).tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]


@pytest.mark.parametrize("text,match", [("not json", "not JSON"), ('[{"x": 1}]', "point 0"), ("5", "list of points"),
                                        ('[{"x": "a", "y": 2}]', "point 0"), (7, "JSON string")])
def test_bad_points_are_named(text, match):
    with pytest.raises(NodeInputError, match=match) as err:
        parse_points(text, "coordinates_positive")
    assert err.value.input_name == "coordinates_positive"


def test_more_negatives_than_positives_with_individual_objects_is_refused():
    with pytest.raises(NodeInputError) as err:
        point_prompts([(1, 2)], [(3, 4), (5, 6)], individual=True)
    assert err.value.input_name == "coordinates_negative"
    with pytest.raises(NodeInputError, match="box 0"):
        parse_boxes([[1, 2, 3]])


# --- Sam2Segmentation: single image --------------------------------------------------------------


def _reference_image_model(version="2.1", seed=0):
    from transformers import Sam2Model

    reference = reference_model(version, seed)
    model = Sam2Model(convert_sam2.image_config(reference.config)).eval()
    wanted = model.state_dict().keys()
    model.load_state_dict({k: v for k, v in reference.state_dict().items() if k in wanted}, strict=True)
    return model


def _reference_image_masks(model, frame, points, labels, boxes=None, multimask=True):
    """The pack's SAM2ImagePredictor path written out: 8-bit frame, antialiased bilinear resize
    to 64x64, ImageNet mean/std, prompts scaled to the square, transformers' forward, the best
    of three masks by predicted IoU, logits upsampled to the frame."""
    height, width = frame.shape[:2]
    pixels = (frame * 255).floor().clamp(0, 255) / 255
    pixels = F.interpolate(pixels.permute(2, 0, 1)[None], size=(64, 64), mode="bilinear", antialias=True)
    pixels = (pixels - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor(
        [0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    scale = torch.tensor([64 / width, 64 / height])
    kwargs = {}
    if points is not None:
        kwargs.update(input_points=(points * scale)[None], input_labels=labels[None])
    if boxes is not None:
        kwargs["input_boxes"] = (boxes.reshape(-1, 2, 2) * scale).reshape(1, -1, 4)
    with torch.no_grad():
        out = model(pixel_values=pixels, multimask_output=multimask, **kwargs)
    masks = out.pred_masks[0]
    best = out.iou_scores[0].argmax(-1)
    masks = torch.stack([masks[i, best[i]] for i in range(masks.shape[0])])
    masks = F.interpolate(masks[:, None], size=(height, width), mode="bilinear")[:, 0]
    return (masks > 0).any(dim=0).float()


def test_single_image_points_match_transformers(ctx, frames):
    value = _load(ctx, "single_image")
    (mask,) = sam2_segmentation(ctx, sam2_model=value, image=frames[:2], keep_model_loaded=False,
                                coordinates_positive=POS, coordinates_negative=NEG, individual_objects=False)
    assert mask.shape == (2, 40, 56) and mask.dtype == torch.float32
    reference = _reference_image_model()
    points = torch.tensor([[[20.5, 14.0], [40.0, 30.0], [5.0, 35.0]]])
    labels = torch.tensor([[1, 1, 0]], dtype=torch.int32)
    for i in range(2):
        expected = _reference_image_masks(reference, frames[i], points, labels)
        assert torch.equal(mask[i], expected)
    assert 0 < mask.mean() < 1  # a mask, not an empty or full frame


def test_single_image_individual_objects_and_boxes_match_transformers(ctx, frames):
    value = _load(ctx, "single_image")
    boxes = [[2, 3, 30, 25], [20, 10, 50, 38]]
    (mask,) = sam2_segmentation(ctx, sam2_model=value, image=frames[:1], keep_model_loaded=True,
                                coordinates_positive=POS, bboxes=boxes, individual_objects=True)
    reference = _reference_image_model()
    points = torch.tensor([[[20.5, 14.0]], [[40.0, 30.0]]])
    labels = torch.ones(2, 1, dtype=torch.int32)
    expected = _reference_image_masks(reference, frames[0], points, labels, torch.tensor(boxes, dtype=torch.float32),
                                      multimask=False)
    assert torch.equal(mask[0], expected)
    # without individual objects the pack keeps the last box only, with every point
    (mask,) = sam2_segmentation(ctx, sam2_model=value, image=frames[:1], keep_model_loaded=True, bboxes=boxes)
    expected = _reference_image_masks(reference, frames[0], None, None, torch.tensor(boxes[-1:], dtype=torch.float32))
    assert torch.equal(mask[0], expected)


# --- Sam2Segmentation: video ---------------------------------------------------------------------


def _reference_video(frames, points, labels, box=None, version="2.1", seed=0):
    """transformers' video session driven one frame at a time (the pack feeds frames resized
    to the square in 0..1, without normalization)."""
    from transformers.models.sam2_video.modeling_sam2_video import Sam2VideoInferenceSession

    model = reference_model(version, seed)
    height, width = frames.shape[1:3]
    video = F.interpolate(frames.permute(0, 3, 1, 2), size=(64, 64), mode="bilinear")
    session = Sam2VideoInferenceSession(video=video, video_height=height, video_width=width, dtype=torch.float32)
    scale = torch.tensor([64 / width, 64 / height])
    coords, labs = points * scale, labels
    if box is not None:
        coords = torch.cat([(box.reshape(2, 2) * scale), coords])
        labs = torch.cat([torch.tensor([2, 3], dtype=torch.int32), labs])
    session.add_point_inputs(session.obj_id_to_idx(1), 0, {"point_coords": coords[None, None],
                                                           "point_labels": labs[None, None]})
    session.obj_with_new_inputs = [1]
    out = []
    with torch.no_grad():
        for i in range(frames.shape[0]):
            logits = model(session, frame_idx=i).pred_masks
            out.append(F.interpolate(logits, size=(height, width), mode="bilinear")[0, 0] > 0)
    return torch.stack(out).float()


def test_video_points_match_transformers_video_session(ctx, frames):
    value = _load(ctx, "video")
    (mask,) = sam2_segmentation(ctx, sam2_model=value, image=frames, keep_model_loaded=True,
                                coordinates_positive=POS, coordinates_negative=NEG)
    assert mask.shape == (3, 40, 56)
    expected = _reference_video(frames, torch.tensor([[20.5, 14.0], [40.0, 30.0], [5.0, 35.0]]),
                                torch.tensor([1, 1, 0], dtype=torch.int32))
    assert torch.equal(mask, expected)
    assert mask[1:].sum() > 0 and not torch.equal(mask[0], mask[1])  # tracked, and it changes


def test_video_with_a_box_matches_transformers_video_session(ctx, frames):
    value = _load(ctx, "video")
    (mask,) = sam2_segmentation(ctx, sam2_model=value, image=frames, keep_model_loaded=True,
                                coordinates_positive='[{"x": 20, "y": 20}]', bboxes=[[4, 6, 30, 34], [0, 0, 9, 9]])
    expected = _reference_video(frames, torch.tensor([[20.0, 20.0]]), torch.tensor([1], dtype=torch.int32),
                                box=torch.tensor([4.0, 6, 30, 34]))  # the first box, as the pack's video path
    assert torch.equal(mask, expected)


def test_video_individual_objects_are_ored(ctx, frames):
    value = _load(ctx, "video")
    (both,) = sam2_segmentation(ctx, sam2_model=value, image=frames, keep_model_loaded=True,
                                coordinates_positive=POS, individual_objects=True)
    one = _reference_video(frames, torch.tensor([[20.5, 14.0]]), torch.tensor([1], dtype=torch.int32))
    two = _reference_video(frames, torch.tensor([[40.0, 30.0]]), torch.tensor([1], dtype=torch.int32))
    # objects are tracked independently (per-object memory), so the union is the OR of each alone
    assert torch.equal(both, torch.maximum(one, two))


def test_pack_errors_stay_errors(ctx, frames):
    video20 = _load(ctx, "video", name=NAME20)
    with pytest.raises(NodeInputError) as err:
        sam2_segmentation(ctx, sam2_model=video20, image=frames, keep_model_loaded=True, bboxes=[[1, 2, 3, 4]])
    assert err.value.input_name == "bboxes"
    video = _load(ctx, "video")
    with pytest.raises(NodeInputError) as err:
        sam2_segmentation(ctx, sam2_model=video, image=frames, keep_model_loaded=True, coordinates_positive=POS,
                          bboxes=[[1, 2, 3, 4]], individual_objects=True)
    assert err.value.input_name == "bboxes"
    with pytest.raises(NodeInputError) as err:
        sam2_segmentation(ctx, sam2_model=video, image=frames, keep_model_loaded=True)
    assert err.value.input_name == "coordinates_positive"
    auto = _load(ctx, "automaskgenerator")
    with pytest.raises(NodeInputError) as err:
        sam2_segmentation(ctx, sam2_model=auto, image=frames, keep_model_loaded=True, coordinates_positive=POS)
    assert err.value.input_name == "sam2_model"
    with pytest.raises(NodeInputError) as err:
        sam2_segmentation(ctx, sam2_model=video, image=frames[0], keep_model_loaded=True, coordinates_positive=POS)
    assert err.value.input_name == "image"
    with pytest.raises(NodeInputError) as err:
        sam2_segmentation(ctx, sam2_model="model", image=frames, keep_model_loaded=True)
    assert err.value.input_name == "sam2_model"


# --- Florence2toCoordinates ----------------------------------------------------------------------


def test_florence2_to_coordinates():
    data = [[[10, 20, 31, 40], [0, 0, 5, 5]], [[2, 2, 4, 4], [6, 6, 9, 9]]]
    centres, boxes = florence2_to_coordinates(None, data=data, index="0", batch=False)
    assert json.loads(centres) == [{"x": 20, "y": 30}] and boxes == [[10, 20, 31, 40]]
    centres, boxes = florence2_to_coordinates(None, data=data, index="", batch=False)
    assert json.loads(centres) == [{"x": 20, "y": 30}, {"x": 2, "y": 2}]
    centres, boxes = florence2_to_coordinates(None, data=data, index="1,5", batch=True)  # out of range skipped
    assert json.loads(centres) == [{"x": 2, "y": 2}, {"x": 7, "y": 7}] and boxes == [[0, 0, 5, 5], [6, 6, 9, 9]]
    assert json.loads(florence2_to_coordinates(None, data=[], index="0")[0]) == [{"x": 0, "y": 0}]
    with pytest.raises(NodeInputError) as err:
        florence2_to_coordinates(None, data=data, index="3", batch=False)
    assert err.value.input_name == "index"
    with pytest.raises(NodeInputError) as err:
        florence2_to_coordinates(None, data=data, index="a", batch=False)
    assert err.value.input_name == "index"
    # phrase grounding's data (one {"bboxes", "labels"} per image) gives the same as its boxes
    grounded = [{"bboxes": image, "labels": ["face"] * len(image)} for image in data]
    assert florence2_to_coordinates(None, data=grounded, index="1,5", batch=True) == \
        florence2_to_coordinates(None, data=data, index="1,5", batch=True)


# --- --smoke stand-ins ---------------------------------------------------------------------------


def test_smoke_standins_follow_the_pack_names(tmp_path):
    from wfrun.graph.check import DOWNLOADED_MODEL_INPUTS
    from wfrun.models.sam2 import load_sam2
    from wfrun.models.standins import family_for, write_standins

    folder = DOWNLOADED_MODEL_INPUTS[("DownloadAndLoadSAM2Model", "model")]
    wanted = {"sam2.1_hiera_large.safetensors": "2.1", "sam2_hiera_base_plus.safetensors": "2.0"}
    standins = [family_for("DownloadAndLoadSAM2Model", "model", folder, name) for name in wanted]
    assert [s.family.kind for s in standins] == ["sam2", "sam2"]
    root = write_standins(standins, tmp_path / "tiny", cache=tmp_path / "cache")
    for name, version in wanted.items():
        _, facts = load_sam2(root / folder / name, video=True)
        assert facts.version == version
