"""SAM 3.1 in ComfyUI's core nodes: the checkpoint's key conversion, CheckpointLoaderSimple,
CLIPTextEncode with SAM 3's CLIP, SAM3_Detect.

References, independent of wfrun's call path:

- the text encoder against a plain-torch open_clip text transformer reading the file's own
  tensors (fused ``in_proj``, ``quick_gelu`` as ComfyUI builds it, causal and padding masks);
- detection against transformers' own ``Sam3Model.forward`` from pixels and token ids, on a
  model holding the same weights (its neck given one more, half-size level, which its
  forward drops as SAM 3's);
- the geometry encoder's CLS token against plain torch on the file's tensors;
- the SAM heads against transformers' ``Sam3TrackerModel.forward`` from pixels.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from wfrun.models.detect import detect
from wfrun.models.header import CheckpointError
from wfrun.models.mapping import UNKNOWN, build_plan
from wfrun.models.paths import ModelRoots
from wfrun.models.reader import open_checkpoint
from wfrun.models.tiny_sam3 import TINY, original_layout, tiny_tokenizer_files, write_tiny_sam3
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.comfy_core_models import sam3_nodes
from wfrun.packs.comfy_core_models.checkpoint_loader import checkpoint_loader_simple
from wfrun.packs.comfy_core_models.sam3_nodes import parse_prompts, sam3_detect, tokenize
from wfrun.packs.comfy_core_models.text import clip_text_encode
from wfrun.packs.comfy_core_models.types import Sam3Clip, Sam3Model

NAME = "sam3.1_multiplex_fp16.safetensors"


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("sam3") / "models"
    write_tiny_sam3(root / "checkpoints" / NAME)
    return root


@pytest.fixture(scope="module")
def file_tensors(models_dir):
    with open_checkpoint(models_dir / "checkpoints" / NAME) as reader:
        return {k: reader.read(k).float() for k, info in reader.tensors.items() if info.dtype != "C64"}


@pytest.fixture(scope="module")
def loaded(models_dir):
    ctx = ExecContext(models=ModelRoots.from_options(models_dir))
    model, clip, vae = checkpoint_loader_simple(ctx, ckpt_name=NAME)
    return ctx, model, clip, vae


# --- detection and the key conversion ------------------------------------------------------------


def test_the_tiny_file_is_a_sam31_checkpoint(models_dir):
    from wfrun.models.preflight import check_model_file

    info = detect(models_dir / "checkpoints" / NAME)
    assert check_model_file(models_dir / "checkpoints" / NAME, "checkpoints").kind == "sam3"  # its C64 tables pass
    assert (info.kind, info.variant, info.dtype) == ("sam3", "sam3.1", "fp16")
    assert info.config["vit_layers"] == TINY["vit_layers"] and info.config["num_queries"] == TINY["queries"]
    assert info.config["necks"] == {"convs": 3, "sam2_convs": 0, "interactive_convs": 3, "propagation_convs": 3}


def test_every_key_is_loaded_or_named_as_unused(models_dir, loaded):
    from wfrun.models import convert_sam3

    path = models_dir / "checkpoints" / NAME
    with open_checkpoint(path) as reader:
        plan = build_plan(path, reader.tensors, "", convert_sam3.rename, label="x")
        keys = list(reader.tensors)
    assert all(convert_sam3.rename(k) is not UNKNOWN for k in keys)
    unread = {k for k in keys if convert_sam3.rename(k) is None}
    # exactly what only video tracking uses, the rotary tables and the detector's point projections
    expected = {k for k in keys if k.endswith(".attn.freqs_cis") or ".propagation_convs." in k
                or k.startswith("detector.geometry_encoder.points_")
                or (k.startswith("tracker.model.") and not k.startswith(("tracker.model.interactive_sam_",
                                                                        "tracker.model.interactivity_")))}
    assert unread == expected
    # every parameter and buffer of the module is filled from the file, with its shape
    _, model, _, _ = loaded
    state = model.segmenter.state_dict()
    targets = {t.split("#")[0] for t in plan.takes}
    assert targets == set(state)
    for target, take in plan.takes.items():
        name, _, row = target.partition("#")
        want = state[name].shape if not row else (1, *state[name].shape[1:])
        assert tuple(take.out_shape(reader.tensors[take.source].shape)) == tuple(want), target


def test_converted_tensors_are_the_files(file_tensors, loaded):
    _, model, _, _ = loaded
    sd, m, d, w = file_tensors, model.segmenter, TINY["d"], TINY["text_dim"]
    enc = m.detector.detr_encoder.layers[0]
    fused = sd["detector.transformer.encoder.layers.0.self_attn.in_proj_weight"]
    for i, proj in enumerate((enc.self_attn.q_proj, enc.self_attn.k_proj, enc.self_attn.v_proj)):
        assert torch.equal(proj.weight, fused[i * d:(i + 1) * d])
    text = m.detector.text_encoder.encoder.layers[1].self_attn
    assert torch.equal(text.v_proj.bias, sd["detector.backbone.language_backbone.encoder.transformer.resblocks.1.attn."
                                            "in_proj_bias"][2 * w:])
    vit = m.detector.vision_encoder.backbone
    assert torch.equal(vit.embeddings.position_embeddings, sd["detector.backbone.vision_backbone.trunk.pos_embed"][:, 1:])
    qkv = sd["detector.backbone.vision_backbone.trunk.blocks.1.attn.qkv.weight"]
    assert torch.equal(vit.layers[1].attention.k_proj.weight, qkv[TINY["vit_dim"]:2 * TINY["vit_dim"]])
    decoder = m.detector.detr_decoder.layers[1]
    assert torch.equal(decoder.self_attn_layer_norm.weight, sd["detector.transformer.decoder.layers.1.norm2.weight"])
    assert torch.equal(decoder.vision_cross_attn_layer_norm.bias, sd["detector.transformer.decoder.layers.1.norm1.bias"])
    prompt = "tracker.model.interactive_sam_prompt_encoder."
    assert torch.equal(m.tracker.prompt_encoder.point_embed.weight,
                       torch.cat([sd[f"{prompt}point_embeddings.{i}.weight"] for i in range(4)]))
    table = sd[f"{prompt}pe_layer.positional_encoding_gaussian_matrix"]
    assert torch.equal(m.tracker.shared_image_embedding.positional_embedding, table)
    assert torch.equal(m.tracker.prompt_encoder.shared_embedding.positional_embedding, table)
    head = "tracker.model.interactive_sam_mask_decoder."
    assert torch.equal(m.tracker.mask_decoder.output_hypernetworks_mlps[2].proj_out.weight,
                       sd[f"{head}output_hypernetworks_mlps.2.layers.2.weight"])
    assert torch.equal(m.tracker.mask_decoder.upscale_conv2.weight, sd[f"{head}output_upscaling.3.weight"])
    assert torch.equal(m.interactive_neck.fpn_layers[0].scale_layers[2].weight,
                       sd["detector.backbone.vision_backbone.interactive_convs.0.dconv_2x2_1.weight"])
    assert torch.equal(m.tracker.no_memory_embedding, sd["tracker.model.interactivity_no_mem_embed"])
    assert all(mod.eps == 1e-5 for mod in m.modules() if isinstance(mod, torch.nn.LayerNorm))


def test_an_unknown_or_missing_tensor_is_refused_with_its_name(tmp_path, file_tensors):
    from safetensors.torch import save_file

    from wfrun.models.sam3 import load_sam3

    extra = dict(file_tensors, **{"detector.transformer.decoder.mystery.weight": torch.zeros(2)})
    save_file(extra, str(tmp_path / "extra.safetensors"), {"wfrun.sam3": _tiny_facts()})
    with pytest.raises(CheckpointError, match="decoder.mystery"):
        load_sam3(tmp_path / "extra.safetensors")
    missing = {k: v for k, v in file_tensors.items() if "presence_token_head.layers.2" not in k}
    save_file(missing, str(tmp_path / "missing.safetensors"), {"wfrun.sam3": _tiny_facts()})
    with pytest.raises(CheckpointError, match="presence_head"):
        load_sam3(tmp_path / "missing.safetensors")


def _tiny_facts() -> str:
    return json.dumps({"image_size": TINY["image"], "window_size": TINY["window"],
                       "global_attn_indexes": TINY["global_blocks"], "vit_head_dim": TINY["vit_dim"] // TINY["vit_heads"],
                       "detr_heads": TINY["heads"], "tracker_heads": TINY["heads"],
                       "text_head_dim": TINY["text_dim"] // TINY["text_heads"]})


def test_the_layout_counts_match_the_real_release():
    """The real release's sizes through the same layout function: 1024-wide ViT of 32 blocks,
    d_model 256, 200 queries, the 49408-token CLIP."""
    real = dict(TINY, vit_dim=1024, vit_heads=16, vit_layers=32, vit_mlp=4736, image=1008, pretrain=336, window=24,
                global_blocks=[7, 15, 23, 31], d=256, heads=8, queries=200, encoder_layers=6, decoder_layers=6,
                ffn=2048, geometry_layers=3, text_dim=1024, text_heads=16, text_layers=24, sam_mlp=2048, mask_in=16,
                multiplex=16)
    shapes = original_layout(real, vocab=49408)
    assert shapes["detector.backbone.vision_backbone.trunk.pos_embed"] == (1, 577, 1024)
    assert shapes["detector.backbone.language_backbone.encoder.token_embedding.weight"] == (49408, 1024)
    assert shapes["detector.transformer.decoder.query_embed.weight"] == (200, 256)


# --- text ----------------------------------------------------------------------------------------


def test_prompts_and_tokens_as_comfyui_splits_them(loaded):
    assert parse_prompts("cat") == [("cat", 1)]
    assert parse_prompts("(red car):2, dog , person:2.6,") == [("red car", 2), ("dog", 1), ("person", 3)]
    _, _, clip, _ = loaded
    tok = clip.tokenizer
    vocab, _ = tiny_tokenizer_files()
    start, end = len(vocab) - 2, len(vocab) - 1
    assert tokenize(tok, "Cat") == [[start, vocab["cat</w>"], end] + [0] * 29]
    long = tokenize(tok, " ".join(["dog"] * 40))
    assert [len(c) for c in long] == [32, 32]
    assert long[0][:2] == [start, vocab["dog</w>"]] and long[0][30:] == [vocab["dog</w>"], end]
    assert long[1][11] == end and long[1][12:] == [0] * 20  # 40 words: 30 in the first chunk, 10 in the second


def _reference_text(sd: dict, ids: torch.Tensor, mask: torch.Tensor, heads: int) -> torch.Tensor:
    """open_clip's TextTransformer (pre-norm blocks, fused in_proj, causal attention) with
    ComfyUI's quick_gelu, plain torch on the file's tensors."""
    p = "detector.backbone.language_backbone.encoder."
    x = sd[f"{p}token_embedding.weight"][ids] + sd[f"{p}positional_embedding"][: ids.shape[1]]
    t = ids.shape[1]
    allowed = torch.ones(t, t).tril().bool()[None] & mask.bool()[:, None, :]
    bias = torch.zeros(allowed.shape).masked_fill(~allowed, float("-inf"))[:, None]
    layers = len({k.split(".")[6] for k in sd if k.startswith(f"{p}transformer.resblocks.")})
    for i in range(layers):
        b = f"{p}transformer.resblocks.{i}."
        h = F.layer_norm(x, x.shape[-1:], sd[f"{b}ln_1.weight"], sd[f"{b}ln_1.bias"], 1e-5)
        q, k, v = F.linear(h, sd[f"{b}attn.in_proj_weight"], sd[f"{b}attn.in_proj_bias"]).chunk(3, dim=-1)
        split = lambda z: z.reshape(z.shape[0], t, heads, -1).transpose(1, 2)  # noqa: E731
        q, k, v = split(q), split(k), split(v)
        att = (q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]) + bias).softmax(-1) @ v
        x = x + F.linear(att.transpose(1, 2).reshape(x.shape), sd[f"{b}attn.out_proj.weight"], sd[f"{b}attn.out_proj.bias"])
        h = F.layer_norm(x, x.shape[-1:], sd[f"{b}ln_2.weight"], sd[f"{b}ln_2.bias"], 1e-5)
        h = F.linear(h, sd[f"{b}mlp.c_fc.weight"], sd[f"{b}mlp.c_fc.bias"])
        x = x + F.linear(h * torch.sigmoid(1.702 * h), sd[f"{b}mlp.c_proj.weight"], sd[f"{b}mlp.c_proj.bias"])
    return F.layer_norm(x, x.shape[-1:], sd[f"{p}ln_final.weight"], sd[f"{p}ln_final.bias"], 1e-5)


def test_clip_text_encode_matches_the_open_clip_text_transformer(loaded, file_tensors):
    ctx, _, clip, _ = loaded
    (cond,) = clip_text_encode(ctx, text="a red cat", clip=clip)
    states, meta = cond[0]
    assert states.shape == (1, 32, TINY["text_dim"]) and states.dtype == torch.float32
    ids = torch.tensor(tokenize(clip.tokenizer, "a red cat"))
    mask = meta["attention_mask"]
    assert mask.tolist() == [[1] * 5 + [0] * 27] and "sam3_multi_cond" not in meta
    reference = _reference_text(file_tensors, ids, mask, TINY["text_heads"])
    assert torch.allclose(states, reference, atol=1e-4, rtol=1e-4)


def test_several_categories_give_one_entry_each(loaded):
    ctx, _, clip, _ = loaded
    (cond,) = clip_text_encode(ctx, text="cat:3, dog", clip=clip)
    multi = cond[0][1]["sam3_multi_cond"]
    assert [(e["max_detections"], tuple(e["cond"].shape)) for e in multi] == [(3, (1, 32, 24)), (1, (1, 32, 24))]
    (single,) = clip_text_encode(ctx, text="cat", clip=clip)
    assert torch.equal(multi[0]["cond"], single[0][0])
    assert torch.equal(cond[0][0], multi[0]["cond"])


# --- numerics against transformers ---------------------------------------------------------------


def _frame(seed: int = 3) -> torch.Tensor:
    return torch.rand(1, 3, TINY["image"], TINY["image"], generator=torch.Generator().manual_seed(seed))


def test_detection_matches_transformers_sam3model_forward(loaded):
    """Text-only, without the geometry CLS token (which transformers leaves out): the node's
    call path equals Sam3Model.forward from pixels and token ids on the same weights."""
    from transformers import Sam3Model

    ctx, model, clip, _ = loaded
    seg = model.segmenter
    config = seg.configs.detector.to_dict()
    config["vision_config"]["scale_factors"] = [4.0, 2.0, 1.0, 0.5]  # SAM 3's levels: forward drops the last
    reference = Sam3Model(type(seg.configs.detector).from_dict(config)).eval()
    state = {k: v for k, v in seg.detector.state_dict().items() if not k.startswith("text_encoder.")}
    inner = "text_encoder.text_model." if any(k.startswith("text_encoder.text_model.") for k in reference.state_dict()) \
        else "text_encoder."  # CLIPTextModelWithProjection nests the same modules
    state.update({f"{inner}{k}": v for k, v in seg.detector.text_encoder.state_dict().items()})
    missing, unexpected = reference.load_state_dict(state, strict=False)
    assert not unexpected
    assert sorted(missing) == sorted(k for k in reference.state_dict() if ".fpn_layers.3." in k
                                     or k == "text_encoder.text_projection.weight")
    for module in reference.modules():
        if isinstance(module, torch.nn.LayerNorm):
            module.eps = 1e-5
    reference.text_encoder.config.hidden_act = "quick_gelu"
    from transformers.activations import ACT2FN

    text_model = getattr(reference.text_encoder, "text_model", reference.text_encoder)
    for layer in text_model.encoder.layers:
        layer.mlp.activation_fn = ACT2FN["quick_gelu"]
    pixels = _frame()
    ids = torch.tensor(tokenize(clip.tokenizer, "person"))
    mask = (torch.arange(32)[None] <= (ids == clip.tokenizer.eos_token_id).int().argmax(1, keepdim=True)).long()
    with torch.no_grad():
        want = reference(pixel_values=pixels, input_ids=ids, attention_mask=mask)
        got = seg.detect(seg.trunk(pixels), seg.encode_text(ids, mask), mask, geometry_cls=False)
    for ours, theirs in ((got["logits"], want.pred_logits), (got["boxes"], want.pred_boxes),
                         (got["masks"], want.pred_masks), (got["presence"], want.presence_logits)):
        assert torch.allclose(ours, theirs, atol=1e-5, rtol=1e-4)


def test_the_geometry_cls_token_matches_plain_torch(loaded, file_tensors):
    """ComfyUI (and Meta's SAM 3) prompt the detector with the geometry encoder's CLS token even
    for text alone: projected, normed, one pre-norm layer (self-attention over one token,
    cross-attention to the image with its positions, MLP), normed."""
    _, model, _, _ = loaded
    seg, sd, d, heads = model.segmenter, file_tensors, TINY["d"], TINY["heads"]
    with torch.no_grad():
        fpn, pos = seg.detector_features(seg.trunk(_frame()))
        got = seg._geometry_cls(fpn, pos, 1)
    g = "detector.geometry_encoder."
    ln = lambda x, n: F.layer_norm(x, (d,), sd[f"{g}{n}.weight"], sd[f"{g}{n}.bias"], 1e-5)  # noqa: E731
    x = ln(F.linear(sd[f"{g}cls_embed.weight"][None], sd[f"{g}final_proj.weight"], sd[f"{g}final_proj.bias"]), "norm")
    image = fpn[-1].flatten(2).transpose(1, 2)
    image_pos = pos[-1].flatten(2).transpose(1, 2)
    e = f"{g}encode.0."
    wq, wk, wv = sd[f"{e}self_attn.in_proj_weight"].chunk(3)
    bq, bk, bv = sd[f"{e}self_attn.in_proj_bias"].chunk(3)
    h = ln(x, "encode.0.norm1")
    x = x + F.linear(F.linear(h, wv, bv), sd[f"{e}self_attn.out_proj.weight"], sd[f"{e}self_attn.out_proj.bias"])
    h = ln(x, "encode.0.norm2")
    wq, wk, wv = sd[f"{e}cross_attn_image.in_proj_weight"].chunk(3)
    bq, bk, bv = sd[f"{e}cross_attn_image.in_proj_bias"].chunk(3)
    split = lambda z: z.reshape(1, z.shape[1], heads, -1).transpose(1, 2)  # noqa: E731
    q, k, v = split(F.linear(h, wq, bq)), split(F.linear(image + image_pos, wk, bk)), split(F.linear(image, wv, bv))
    att = ((q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])).softmax(-1) @ v
    x = x + F.linear(att.transpose(1, 2).reshape(1, 1, d), sd[f"{e}cross_attn_image.out_proj.weight"],
                     sd[f"{e}cross_attn_image.out_proj.bias"])
    h = F.relu(F.linear(ln(x, "encode.0.norm3"), sd[f"{e}linear1.weight"], sd[f"{e}linear1.bias"]))
    x = ln(x + F.linear(h, sd[f"{e}linear2.weight"], sd[f"{e}linear2.bias"]), "encode_norm")
    assert torch.allclose(got, x, atol=1e-5, rtol=1e-4)


def test_the_sam_heads_match_transformers_sam3_tracker_forward(loaded):
    from transformers import Sam3TrackerModel

    _, model, _, _ = loaded
    seg = model.segmenter
    reference = Sam3TrackerModel(seg.configs.tracker).eval()
    state = {f"vision_encoder.backbone.{k}": v for k, v in seg.detector.vision_encoder.backbone.state_dict().items()}
    state.update({f"vision_encoder.neck.{k}": v for k, v in seg.interactive_neck.state_dict().items()})
    state.update(seg.tracker.state_dict())
    missing, unexpected = reference.load_state_dict(state, strict=False)
    assert not missing and not unexpected
    for module in reference.modules():
        if isinstance(module, torch.nn.LayerNorm):
            module.eps = 1e-5
    pixels, size = _frame(5), TINY["image"]
    coarse = torch.randn(1, 1, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = reference(pixel_values=pixels, input_masks=coarse, multimask_output=False)
        got = seg.segment(seg.interactive_features(seg.trunk(pixels)), mask=coarse)
        gated = torch.where(want.object_score_logits[:, 0, :, None, None] > 0, want.pred_masks[:, 0],
                            torch.tensor(-1024.0))
        expected = F.interpolate(gated, size=(size, size), mode="bilinear", align_corners=False)
    assert got.shape == (1, 1, size, size)
    assert torch.allclose(got, expected, atol=1e-4, rtol=1e-4)


# --- SAM3_Detect ---------------------------------------------------------------------------------


def _image(frames: int = 2, height: int = 40, width: int = 56) -> torch.Tensor:
    return torch.rand(frames, height, width, 3, generator=torch.Generator().manual_seed(11))


def _cond(loaded, text: str = "cat"):
    ctx, _, clip, _ = loaded
    return clip_text_encode(ctx, text=text, clip=clip)[0]


def _run(loaded, image, **kw):
    ctx, model, _, _ = loaded
    args = dict(threshold=0.0, refine_iterations=2, individual_masks=False)
    args.update(kw)
    return sam3_detect(ctx, model=model, image=image, **args)


def _probs(loaded, image, text="cat"):
    """The detector's scores per frame, computed directly (the node keeps those above threshold)."""
    _, model, _, _ = loaded
    seg = model.segmenter
    states, meta = _cond(loaded, text)[0]
    out = []
    with torch.no_grad():
        for frame in image:
            pixels = F.interpolate(frame.movedim(-1, 0)[None], size=(seg.image_size,) * 2, mode="bilinear",
                                   align_corners=False)
            found = seg.detect(seg.trunk(pixels), states, meta["attention_mask"])
            out.append((found["logits"][0].sigmoid(), found["boxes"][0], found["masks"][0]))
    return out


def test_detect_masks_and_boxes_have_comfyuis_shapes(loaded):
    image = _image()
    masks, boxes = _run(loaded, image, conditioning=_cond(loaded))
    assert masks.shape == (2, 40, 56) and masks.dtype == torch.float32
    assert set(masks.unique().tolist()) <= {0.0, 1.0}
    assert [len(b) for b in boxes] == [1, 1]  # a plain prompt keeps its best detection
    probs = _probs(loaded, image)
    for frame, (p, box, _) in zip(boxes, probs):
        best = int(p.argmax())
        assert frame[0]["score"] == pytest.approx(float(p[best]), rel=1e-5)
        assert frame[0]["x"] == pytest.approx(float(box[best, 0]) * 56, rel=1e-4, abs=1e-4)
        assert frame[0]["height"] == pytest.approx(float(box[best, 3] - box[best, 1]) * 40, rel=1e-4, abs=1e-4)
        assert set(frame[0]) == {"x", "y", "width", "height", "score"}
    individual, _ = _run(loaded, image, conditioning=_cond(loaded), individual_masks=True)
    assert individual.shape == (2, 40, 56)
    assert torch.equal(individual, masks)  # one object per frame: its mask is the union


def test_the_threshold_and_per_category_counts_decide_how_many(loaded):
    image = _image()
    probs = _probs(loaded, image)
    cut = float(torch.stack([p.max() for p, _, _ in probs]).min()) - 1e-4  # every frame keeps its best
    masks, boxes = _run(loaded, image, conditioning=_cond(loaded, "cat:3, dog"), threshold=cut, individual_masks=True)
    dog = _probs(loaded, image, "dog")
    kept = [min(3, int((p > cut).sum())) + min(1, int((q > cut).sum())) for (p, _, _), (q, _, _) in zip(probs, dog)]
    assert [len(b) for b in boxes] == kept
    assert masks.shape == (sum(kept), 40, 56)
    assert all(b["score"] > cut for frame in boxes for b in frame)
    none, empty = _run(loaded, image, conditioning=_cond(loaded), threshold=1.0)
    assert none.shape == (2, 40, 56) and not none.any() and empty == [[], []]
    nothing, _ = _run(loaded, image, conditioning=_cond(loaded), threshold=1.0, individual_masks=True)
    assert nothing.shape == (0, 40, 56)


def test_refinement_keeps_the_coarse_mask_and_zero_passes_is_the_coarse_mask(loaded):
    image = _image(1)
    coarse, _ = _run(loaded, image, conditioning=_cond(loaded), refine_iterations=0)
    p, _, low_res = _probs(loaded, image)[0]
    expected = F.interpolate(low_res[int(p.argmax())][None, None].float(), size=(40, 56), mode="bilinear",
                             align_corners=False)[0, 0] > 0
    assert torch.equal(coarse[0].bool(), expected)
    refined, _ = _run(loaded, image, conditioning=_cond(loaded), refine_iterations=2)
    assert bool((refined >= coarse).all())  # refined = refined crop OR coarse


def test_points_and_boxes_without_text_use_the_sam_heads(loaded):
    image = _image()
    masks, boxes = _run(loaded, image, positive_coords=json.dumps([{"x": 20, "y": 15}]),
                        negative_coords='[{"x": 40, "y": 30}]', individual_masks=True)
    assert masks.shape == (2, 40, 56) and boxes == [[], []]
    one_box = {"x": 5, "y": 4, "width": 30, "height": 20}
    per_frame, _ = _run(loaded, image, bboxes=[[one_box, one_box], [one_box]], individual_masks=True)
    assert per_frame.shape == (3, 40, 56)
    assert torch.equal(per_frame[0], per_frame[1])  # the same box on the same frame
    union, _ = _run(loaded, image, bboxes=one_box)
    assert union.shape == (2, 40, 56)


def test_boxes_with_text_need_torchvision_or_run(loaded):
    image = _image(1)
    kw = dict(conditioning=_cond(loaded), bboxes={"x": 5, "y": 4, "width": 30, "height": 20})
    try:
        import torchvision  # noqa: F401
    except ImportError:
        with pytest.raises(NodeInputError) as err:
            _run(loaded, image, **kw)
        assert err.value.input_name == "bboxes" and "torchvision" in str(err.value)
    else:
        masks, boxes = _run(loaded, image, **kw)
        assert masks.shape == (1, 40, 56) and len(boxes[0]) == 1


@pytest.mark.parametrize("change, input_name", [
    (dict(model="not a model"), "model"),
    (dict(image=torch.rand(40, 56, 3)), "image"),
    (dict(threshold=1.5), "threshold"),
    (dict(refine_iterations=-1), "refine_iterations"),
    (dict(conditioning=None), "conditioning"),
    (dict(conditioning=[[torch.zeros(1, 512, 32), {}]]), "conditioning"),
    (dict(positive_coords="[{x: 1}]"), "positive_coords"),
    (dict(negative_coords='[{"y": 3}]'), "negative_coords"),
    (dict(bboxes=[{"x": 1, "y": 2}]), "bboxes"),
])
def test_bad_inputs_name_the_input(loaded, change, input_name):
    ctx, model, _, _ = loaded
    args = dict(model=model, image=_image(1), conditioning=_cond(loaded), threshold=0.5, refine_iterations=2,
                individual_masks=False)
    args.update(change)
    with pytest.raises(NodeInputError) as err:
        sam3_detect(ctx, **args)
    assert err.value.input_name == input_name


# --- CheckpointLoaderSimple ----------------------------------------------------------------------


def test_the_loader_gives_model_clip_and_no_vae(loaded):
    _, model, clip, vae = loaded
    assert isinstance(model, Sam3Model) and isinstance(clip, Sam3Clip) and vae is None
    assert clip.segmenter is model.segmenter and len(clip.tokenizer) == len(tiny_tokenizer_files()[0])


def test_a_missing_tokenizer_is_said_on_the_clip_input(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.delenv("WFRUN_COMFYUI", raising=False)
    write_tiny_sam3(tmp_path / "models" / "checkpoints" / NAME, tokenizer=False)
    ctx = ExecContext(models=ModelRoots.from_options(tmp_path / "models"))
    _, clip, _ = checkpoint_loader_simple(ctx, ckpt_name=NAME)
    with pytest.raises(NodeInputError) as err:
        clip_text_encode(ctx, text="cat", clip=clip)
    assert err.value.input_name == "clip" and "sd1_tokenizer" in str(err.value)


def test_other_files_are_refused_on_ckpt_name(tmp_path):
    from wfrun.models.tiny import TinySpec, write_file

    spec = TinySpec("checkpoints", "umt5_xxl_fp16.safetensors", "umt5", "", "transformers", "fp16")
    write_file(spec, tmp_path / "models")
    ctx = ExecContext(models=ModelRoots.from_options(tmp_path / "models"))
    with pytest.raises(NodeInputError) as err:
        checkpoint_loader_simple(ctx, ckpt_name="umt5_xxl_fp16.safetensors")
    assert err.value.input_name == "ckpt_name" and "UMT5" in str(err.value) and "text_encoders" in str(err.value)
    with pytest.raises(NodeInputError) as err:
        checkpoint_loader_simple(ctx, ckpt_name="absent.safetensors")
    assert err.value.input_name == "ckpt_name"


def test_a_wan_all_in_one_checkpoint_gives_model_clip_and_vae(tmp_path):
    from wfrun.models.tiny import write_wan_all_in_one
    from wfrun.packs.comfy_core_models.types import CoreModel, WanTextEncoder, WanVAE

    models = tmp_path / "models"
    write_wan_all_in_one(models / "checkpoints" / "wan2.1_t2v_1.3B_aio.safetensors")
    ctx = ExecContext(models=ModelRoots.from_options(models))
    model, clip, vae = checkpoint_loader_simple(ctx, ckpt_name="wan2.1_t2v_1.3B_aio.safetensors")
    assert isinstance(model, CoreModel) and model.task == "t2v"
    assert isinstance(clip, WanTextEncoder) and isinstance(vae, WanVAE)
    (cond,) = clip_text_encode(ctx, text="a fox", clip=clip)
    assert cond[0][0].shape == (1, 512, 32)


def test_the_template_names_a_sam3_stand_in(tmp_path):
    from wfrun.models.standins import family_for, write_standins

    standin = family_for("CheckpointLoaderSimple", "ckpt_name", "checkpoints", NAME)
    assert standin.family.kind == "sam3"
    root = write_standins([standin], tmp_path / "tiny", tmp_path / "cache")
    assert detect(root / "checkpoints" / NAME).variant == "sam3.1"
    assert (root / "checkpoints" / "sam3_tokenizer" / "vocab.json").is_file()
    ctx = ExecContext(models=ModelRoots.from_options(root))
    model, clip, _ = checkpoint_loader_simple(ctx, ckpt_name=NAME)
    assert clip.tokenizer is not None
    assert sam3_nodes.tokenize(clip.tokenizer, "cat")[0][1] == tiny_tokenizer_files()[0]["cat</w>"]


@pytest.mark.parametrize("name,task", [("wan2.2-i2v-rapid-aio-v10.safetensors", "i2v-a14b"),
                                       ("WAN/wan2.1_t2v_1.3B_aio.safetensors", "t2v")])
def test_a_wan_all_in_one_name_gets_a_stand_in_of_its_task(tmp_path, name, task):
    from wfrun.models.standins import family_for, write_standins

    standin = family_for("CheckpointLoaderSimple", "ckpt_name", "checkpoints", name)
    assert (standin.family.kind, standin.family.task) == ("wan_checkpoint", task)
    root = write_standins([standin], tmp_path / "tiny", tmp_path / "cache")
    ctx = ExecContext(models=ModelRoots.from_options(root))
    model, clip, vae = checkpoint_loader_simple(ctx, ckpt_name=name)
    assert model.task == task and clip.tokenizer is not None and vae is not None
    (cond,) = clip_text_encode(ctx, text="a fox", clip=clip)
    assert cond[0][0].shape[1] == 512
