"""kijai's ComfyUI-Florence2 nodes on transformers' Florence-2, checked against transformers
itself on a tiny random folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from wfrun.engine.executors import get_executor
from wfrun.models.florence2 import convert_original_key, load_florence2
from wfrun.models.florence2_tiny import IMAGE_TOKEN, SCRIPT, tiny_backend, write_tiny_florence2
from wfrun.models.reader import pickle_files_allowed
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.florence2 import nodes as fl_nodes
from wfrun.packs.florence2.types import Florence2Model
from tests.node_helpers import node

REPO = "microsoft/Florence-2-base"


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("models")
    write_tiny_florence2(root / "LLM" / "Florence-2-base", seed=0)
    return root


@pytest.fixture(scope="module")
def reference(models_dir):
    """transformers' own model and processor, loaded with from_pretrained from the folder."""
    from transformers import Florence2ForConditionalGeneration, Florence2Processor

    folder = models_dir / "LLM" / "Florence-2-base"
    model = Florence2ForConditionalGeneration.from_pretrained(str(folder), local_files_only=True).eval()
    return model, Florence2Processor.from_pretrained(str(folder), local_files_only=True)


def _load(models_dir, model=REPO, precision="fp32", loader="DownloadAndLoadFlorence2Model") -> Florence2Model:
    return node(loader)(ExecContext(models=models_dir), model=model, precision=precision)[0]


def _image(seed=0, h=40, w=52):
    return torch.rand(1, h, w, 3, generator=torch.Generator().manual_seed(seed))


def _pil(image):
    return Image.fromarray((image[0] * 255).to(torch.uint8).numpy(), "RGB")


def _logits(model, processor, pil, prompt="<CAPTION>"):
    inputs = processor(text=prompt, images=pil, return_tensors="pt")
    with torch.no_grad():
        return model(**inputs, decoder_input_ids=torch.tensor([[2, 0, 70, 71, 72]])).logits


def test_executors_are_registered():
    for name in ("DownloadAndLoadFlorence2Model", "Florence2ModelLoader", "Florence2Run"):
        assert get_executor(name) is not None


def test_loader_logits_equal_transformers_from_pretrained(models_dir, reference):
    fl = _load(models_dir)
    assert isinstance(fl, Florence2Model) and fl.layout == "transformers" and fl.dtype == torch.float32
    ref_model, ref_processor = reference
    pil = _pil(_image(1))
    ours = _logits(fl.model, fl.processor, pil)
    theirs = _logits(ref_model, ref_processor, pil)
    assert ours.abs().max() > 0.1  # random weights give non-trivial logits
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    # the folder-name loader reads the same folder
    by_name = _load(models_dir, model="Florence-2-base", loader="Florence2ModelLoader")
    torch.testing.assert_close(_logits(by_name.model, by_name.processor, pil), theirs, rtol=0, atol=0)


def test_cpu_run_keeps_fp32_weights(models_dir):
    fl = _load(models_dir, precision="fp16")
    assert fl.dtype == torch.float32 and next(fl.model.parameters()).dtype == torch.float32


def test_caption_with_greedy_decoding_equals_generate(models_dir, reference):
    fl = _load(models_dir)
    image = _image(2)
    image_out, mask, caption, data = node("Florence2Run")(
        ExecContext(), image=image, florence2_model=fl, text_input="", task="caption", fill_mask=True,
        max_new_tokens=12, num_beams=1, do_sample=False, seed=1)
    model, processor = reference
    inputs = processor(text="<CAPTION>", images=_pil(image), return_tensors="pt")
    ids = model.generate(input_ids=inputs["input_ids"], pixel_values=inputs["pixel_values"], max_new_tokens=12,
                         do_sample=False, num_beams=1)
    expected = processor.batch_decode(ids, skip_special_tokens=False)[0].replace("</s>", "").replace("<s>", "")
    assert ids.shape[1] > 3 and caption == expected
    # caption tasks leave the pack's 64x64 zero image and mask, and no data
    assert image_out.shape == (1, 64, 64, 3) and not image_out.any()
    assert mask.shape == (1, 64, 64) and not mask.any() and data == []
    # saved with the pack's one week of a list caption output (2024-07-21): a list of one per frame
    listed = node("Florence2Run")(
        ExecContext(saved_date="2024-07-21"), image=image, florence2_model=fl, text_input="", task="caption",
        fill_mask=True, max_new_tokens=12, num_beams=1, do_sample=False, seed=1)[2]
    assert listed == [expected]


def test_beam_search_caption_equals_generate(models_dir, reference):
    fl = _load(models_dir)
    image = _image(5)
    caption = node("Florence2Run")(ExecContext(), image=image, florence2_model=fl, text_input="",
                                   task="detailed_caption", fill_mask=True, max_new_tokens=8, num_beams=3,
                                   do_sample=False)[2]
    model, processor = reference
    inputs = processor(text="<DETAILED_CAPTION>", images=_pil(image), return_tensors="pt")
    ids = model.generate(input_ids=inputs["input_ids"], pixel_values=inputs["pixel_values"], max_new_tokens=8,
                         do_sample=False, num_beams=3)
    assert caption == processor.batch_decode(ids, skip_special_tokens=False)[0].replace("</s>", "").replace("<s>", "")


GROUNDED = ("</s><s>a cat<loc_100><loc_200><loc_500><loc_900>dog<loc_600><loc_50><loc_950><loc_400>"
            "them<loc_1><loc_2><loc_3><loc_4></s>")


def test_phrase_grounding_boxes_and_mask(models_dir, reference, monkeypatch):
    fl = _load(models_dir)
    prompts = []

    def fixed(fl_model, prompt, image, device, **kw):
        prompts.append(prompt)
        return GROUNDED

    monkeypatch.setattr(fl_nodes, "generate", fixed)
    image = _image(3, h=60, w=80)
    run = node("Florence2Run")
    image_out, mask, caption, data = run(ExecContext(), image=image, florence2_model=fl, text_input="cat, dog",
                                         task="caption_to_phrase_grounding", fill_mask=True, seed=7)
    assert prompts == ["<CAPTION_TO_PHRASE_GROUNDING> cat, dog"]
    _, processor = reference
    expected = processor.post_process_generation(GROUNDED, task="<CAPTION_TO_PHRASE_GROUNDING>",
                                                 image_size=(80, 60))["<CAPTION_TO_PHRASE_GROUNDING>"]
    assert data[0]["labels"] == expected["labels"] == ["a cat", "dog"]  # "them" is never grounded
    # the original's bin centres, (bin + 0.5) * size / 1000, as floats; transformers truncates them
    bins = [[100, 200, 500, 900], [600, 50, 950, 400]]
    centres = [[(b + 0.5) * (80 if i % 2 == 0 else 60) / 1000 for i, b in enumerate(box)] for box in bins]
    torch.testing.assert_close(torch.tensor(data[0]["bboxes"]), torch.tensor(centres), rtol=1e-6, atol=1e-5)
    assert [[int(v) for v in box] for box in data[0]["bboxes"]] == expected["bboxes"]
    assert caption == GROUNDED.replace("</s>", "").replace("<s>", "")
    assert image_out.shape == (1, 60, 80, 3) and mask.shape == (1, 60, 80)
    (x0, y0, x1, y1), (u0, v0, u1, v1) = data[0]["bboxes"]
    assert mask[0, int((y0 + y1) / 2), int((x0 + x1) / 2)] == 1 and mask[0, int((v0 + v1) / 2), int((u0 + u1) / 2)] == 1
    assert mask[0, 59, 0] == 0
    # only the boxes output_mask_select names, by index or by label
    for select in ("1", "dog"):
        mask = run(ExecContext(), image=image, florence2_model=fl, text_input="cat, dog",
                   task="caption_to_phrase_grounding", fill_mask=True, output_mask_select=select)[1]
        assert mask[0, int((y0 + y1) / 2), int((x0 + x1) / 2)] == 0
        assert mask[0, int((v0 + v1) / 2), int((u0 + u1) / 2)] == 1
    # region tasks return the box list itself as data
    data = run(ExecContext(), image=image, florence2_model=fl, text_input="", task="region_caption",
               fill_mask=False)[3]
    od = processor.post_process_generation(GROUNDED, task="<OD>", image_size=(80, 60))["<OD>"]["bboxes"]
    assert len(data[0]) == len(od) == 3 and [[int(v) for v in box] for box in data[0]] == od


def test_text_input_only_for_tasks_that_take_it(models_dir):
    fl = _load(models_dir)
    with pytest.raises(NodeInputError) as err:
        node("Florence2Run")(ExecContext(), image=_image(), florence2_model=fl, text_input="a cat", task="caption",
                             fill_mask=True)
    assert err.value.input_name == "text_input"


def test_seed_hash_is_the_packs():
    import hashlib

    assert fl_nodes.hash_seed(1235) == int(hashlib.sha256(b"1235").hexdigest(), 16) % 2 ** 32


# --- the original (remote code) layout ------------------------------------------------------

#: Names from transformers' convert_florence2_original_pytorch_to_hf.py (original -> transformers).
SCRIPT_PAIRS = {
    "vision_tower.convs.0.proj.weight": "model.vision_tower.convs.0.conv.weight",
    "vision_tower.convs.2.norm.bias": "model.vision_tower.convs.2.norm.bias",
    "vision_tower.blocks.0.0.spatial_block.conv1.fn.dw.weight":
        "model.vision_tower.blocks.0.0.spatial_block.conv1.weight",
    "vision_tower.blocks.1.0.spatial_block.window_attn.norm.bias":
        "model.vision_tower.blocks.1.0.spatial_block.norm1.bias",
    "vision_tower.blocks.2.0.spatial_block.window_attn.fn.qkv.weight":
        "model.vision_tower.blocks.2.0.spatial_block.window_attn.qkv.weight",
    "vision_tower.blocks.0.0.spatial_block.ffn.norm.weight": "model.vision_tower.blocks.0.0.spatial_block.norm2.weight",
    "vision_tower.blocks.3.0.channel_block.ffn.fn.net.fc2.bias":
        "model.vision_tower.blocks.3.0.channel_block.ffn.fc2.bias",
    "vision_tower.blocks.0.0.channel_block.channel_attn.norm.weight":
        "model.vision_tower.blocks.0.0.channel_block.norm1.weight",
    "vision_tower.blocks.0.0.channel_block.channel_attn.fn.proj.weight":
        "model.vision_tower.blocks.0.0.channel_block.channel_attn.proj.weight",
    "vision_tower.blocks.0.0.channel_block.conv2.fn.dw.bias": "model.vision_tower.blocks.0.0.channel_block.conv2.bias",
    "image_projection": "model.multi_modal_projector.image_projection.weight",
    "image_proj_norm.weight": "model.multi_modal_projector.image_proj_norm.weight",
    "image_proj_norm.bias": "model.multi_modal_projector.image_proj_norm.bias",
    "image_pos_embed.row_embeddings.weight": "model.multi_modal_projector.image_position_embed.row_embeddings.weight",
    "image_pos_embed.column_embeddings.weight":
        "model.multi_modal_projector.image_position_embed.column_embeddings.weight",
    "visual_temporal_embed.pos_idx_to_embed": "model.multi_modal_projector.visual_temporal_embed.pos_idx_to_embed",
    "language_model.model.encoder.layers.0.fc1.weight": "model.language_model.encoder.layers.0.fc1.weight",
    "language_model.model.shared.weight": "model.language_model.shared.weight",
    "language_model.lm_head.weight": "lm_head.weight",
}


def test_original_key_names_follow_transformers_conversion_script():
    for original, converted in SCRIPT_PAIRS.items():
        assert convert_original_key(original) == converted


def _original_folder(src: Path, dest: Path) -> Path:
    """The tiny folder rewritten the way an original Florence-2 repository is laid out."""
    dest.mkdir(parents=True)
    hf_config = json.loads((src / "config.json").read_text())
    vision, text = hf_config["vision_config"], hf_config["text_config"]
    config = {
        "model_type": "florence2", "architectures": ["Florence2ForConditionalGeneration"],
        "auto_map": {"AutoConfig": "configuration_florence2.Florence2Config"},
        "vision_config": {
            "model_type": "davit", "drop_path_rate": 0.1, "patch_size": vision["patch_size"],
            "patch_stride": vision["patch_stride"], "patch_padding": vision["patch_padding"],
            "patch_prenorm": vision["patch_prenorm"], "dim_embed": vision["embed_dim"],
            "num_heads": vision["num_heads"], "num_groups": vision["num_groups"], "depths": vision["depths"],
            "window_size": vision["window_size"], "projection_dim": vision["projection_dim"],
            "visual_temporal_embedding": {"type": "COSINE",
                                          "max_temporal_embeddings": vision["max_temporal_embeddings"]},
            "image_pos_embed": {"type": "learned_abs_2d", "max_pos_embeddings": vision["max_position_embeddings"]},
            "image_feature_source": ["spatial_avg_pool", "temporal_avg_pool"]},
        "text_config": {k: text[k] for k in ("d_model", "encoder_layers", "decoder_layers", "encoder_attention_heads",
                                             "decoder_attention_heads", "encoder_ffn_dim", "decoder_ffn_dim",
                                             "max_position_embeddings", "bos_token_id", "pad_token_id",
                                             "eos_token_id", "decoder_start_token_id", "scale_embedding")}
        | {"model_type": "florence2_language", "vocab_size": text["vocab_size"] - 1, "no_repeat_ngram_size": 3,
           "forced_bos_token_id": 0, "early_stopping": True, "num_beams": 3, "label2id": {"LABEL_0": 0},
           "add_bias_logits": False, "normalize_before": False},
    }
    (dest / "config.json").write_text(json.dumps(config))
    inverse = {v: k for k, v in SCRIPT_PAIRS.items()}
    renames = (("conv1.", "conv1.fn.dw."), ("conv2.", "conv2.fn.dw."), ("ffn.fc", "ffn.fn.net.fc"))
    state = {}
    for name, tensor in load_file(str(src / "model.safetensors")).items():
        if name.startswith("model.vision_tower.blocks."):
            key = name.removeprefix("model.")
            for old, new in renames:
                key = key.replace(old, new)
            block = "window_attn" if ".spatial_block." in key else "channel_attn"
            key = key.replace(".norm1.", f".{block}.norm.").replace(".norm2.", ".ffn.norm.")
            key = key.replace(f".{block}.qkv", f".{block}.fn.qkv").replace(f".{block}.proj", f".{block}.fn.proj")
        elif name.startswith("model.vision_tower.convs."):
            key = name.removeprefix("model.").replace(".conv.", ".proj.")
        elif name.startswith("model.language_model."):
            key = "language_model.model." + name.removeprefix("model.language_model.")
        else:
            key = inverse[name]
        if key.endswith(("shared.weight", "embed_tokens.weight")) or key == "language_model.lm_head.weight":
            tensor = tensor[:-1]  # the original vocabulary has no <image> row
        if key == "image_projection":
            tensor = tensor.t().contiguous()
        state[key] = tensor.contiguous()
    state["language_model.final_logits_bias"] = torch.zeros(1, config["text_config"]["vocab_size"])
    assert all(convert_original_key(k) in set(load_file(str(src / "model.safetensors"))) | {None, "lm_head.weight"}
               for k in state)
    save_file(state, str(dest / "model.safetensors"))
    tiny_backend(florence_tokens=False).save(str(dest / "tokenizer.json"))
    (dest / "preprocessor_config.json").write_text(json.dumps({
        "image_processor_type": "CLIPImageProcessor", "processor_class": "Florence2Processor", "do_resize": True,
        "size": {"height": 64, "width": 64}, "crop_size": {"height": 64, "width": 64}, "do_center_crop": False,
        "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": [0.485, 0.456, 0.406],
        "image_std": [0.229, 0.224, 0.225], "resample": 3, "image_seq_length": 5}))
    return dest


def test_original_layout_loads_with_the_same_logits(models_dir, reference, tmp_path):
    src = models_dir / "LLM" / "Florence-2-base"
    _original_folder(src, tmp_path / "LLM" / "Florence-2-large")
    fl = _load(tmp_path, model="microsoft/Florence-2-large")
    assert fl.layout == "original"
    ref_model, ref_processor = reference
    assert fl.processor.tokenizer.convert_tokens_to_ids(IMAGE_TOKEN) == ref_processor.image_token_id
    pil = _pil(_image(4))
    prompt_ids = fl.processor(text="<OD>", images=pil, return_tensors="pt")["input_ids"]
    assert torch.equal(prompt_ids, ref_processor(text="<OD>", images=pil, return_tensors="pt")["input_ids"])
    ours, theirs = _logits(fl.model, fl.processor, pil, "<OD>"), _logits(ref_model, ref_processor, pil, "<OD>")
    image_id = ref_processor.image_token_id
    keep = [i for i in range(theirs.shape[-1]) if i != image_id]  # the added <image> row is zero in ours
    torch.testing.assert_close(ours[..., keep], theirs[..., keep], rtol=1e-5, atol=1e-5)
    generation = fl.model.generation_config
    assert generation.suppress_tokens == [image_id]
    assert generation.no_repeat_ngram_size == 3 and generation.forced_bos_token_id == 0  # the text config's


# --- errors and files -----------------------------------------------------------------------

def test_missing_folder_says_where_to_put_it(tmp_path):
    with pytest.raises(NodeInputError) as err:
        _load(tmp_path, model="MiaoshouAI/Florence-2-base-PromptGen-v2.0")
    e = err.value
    assert e.input_name == "model" and "Florence-2-base-PromptGen-v2.0" in str(e)
    assert str(tmp_path / "LLM" / "Florence-2-base-PromptGen-v2.0") in e.hint and "never downloads" in e.hint
    with pytest.raises(NodeInputError):
        _load(tmp_path, model="../escape", loader="Florence2ModelLoader")


def test_pickle_weights_need_the_opt_in(models_dir, tmp_path):
    folder = tmp_path / "LLM" / "Florence-2-base"
    shutil.copytree(models_dir / "LLM" / "Florence-2-base", folder)
    state = load_file(str(folder / "model.safetensors"))
    (folder / "model.safetensors").unlink()
    torch.save(state, folder / "pytorch_model.bin")
    with pytest.raises(NodeInputError) as err:
        _load(tmp_path)
    assert "--allow-pickle" in str(err.value) and "pickle" in str(err.value)
    with pickle_files_allowed():
        fl = _load(tmp_path)
    pil = _pil(_image(6))
    reference = _load(models_dir)
    torch.testing.assert_close(_logits(fl.model, fl.processor, pil), _logits(reference.model, reference.processor, pil))


def test_a_folder_that_is_not_florence2(tmp_path):
    folder = tmp_path / "LLM" / "Florence-2-base"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(NodeInputError) as err:
        _load(tmp_path)
    assert "florence2" in str(err.value)
    with pytest.raises(Exception):
        load_florence2(tmp_path / "LLM" / "nothing")


def test_smoke_standin_is_a_loadable_folder(tmp_path):
    from wfrun.models.standins import folder_standin_for, write_standins

    standin = folder_standin_for("DownloadAndLoadFlorence2Model", "model", "MiaoshouAI/Florence-2-base-PromptGen-v2.0")
    assert standin.relpath == "LLM/Florence-2-base-PromptGen-v2.0"
    assert folder_standin_for("Florence2Run", "task", "caption") is None
    root = write_standins([standin], tmp_path / "tiny", cache=tmp_path / "cache")
    assert (root / standin.relpath).is_dir()
    fl = _load(root, model="MiaoshouAI/Florence-2-base-PromptGen-v2.0")
    run = node("Florence2Run")
    caption = run(ExecContext(), image=_image(), florence2_model=fl, text_input="", task="more_detailed_caption",
                  fill_mask=True)[2]
    assert caption == SCRIPT.replace("<s>", "").replace("</s>", "")  # a short answer, at the defaults
    # phrase grounding finds one box (bins 100, 200, 800, 900), so a SAM 2 prompt has something to take
    data = run(ExecContext(), image=_image(h=40, w=50), florence2_model=fl, text_input="face",
               task="caption_to_phrase_grounding", fill_mask=True)[3]
    assert data[0]["labels"] == ["face"]
    torch.testing.assert_close(torch.tensor(data[0]["bboxes"]),
                               torch.tensor([[100.5 * 50 / 1000, 200.5 * 40 / 1000, 800.5 * 50 / 1000,
                                              900.5 * 40 / 1000]]), rtol=1e-6, atol=1e-5)


def test_smoke_run_of_a_grounding_workflow(tmp_path, monkeypatch):
    """``wfrun run --smoke``: the Florence-2 folder is stood in for (a folder, under the
    repository's last part) and the graph runs from image to boxes and mask."""
    from wfrun.jobs.run import RunOptions, run_file

    monkeypatch.setenv("WFRUN_CACHE", str(tmp_path / "cache"))
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "portrait.png"}},
        "2": {"class_type": "DownloadAndLoadFlorence2Model",
              "inputs": {"model": "microsoft/Florence-2-large", "precision": "fp16", "attention": "sdpa"}},
        "3": {"class_type": "Florence2Run",
              "inputs": {"image": ["1", 0], "florence2_model": ["2", 0], "text_input": "face",
                         "task": "caption_to_phrase_grounding", "fill_mask": True, "keep_model_loaded": False,
                         "max_new_tokens": 1024, "num_beams": 3, "do_sample": True, "output_mask_select": "",
                         "seed": 42}},
        "4": {"class_type": "PreviewImage", "inputs": {"images": ["3", 0]}},
        "5": {"class_type": "MaskToImage", "inputs": {"mask": ["3", 1]}},
        "6": {"class_type": "PreviewImage", "inputs": {"images": ["5", 0]}},
    }
    path = tmp_path / "grounding.json"
    path.write_text(json.dumps(prompt))
    report = run_file(path, RunOptions(output_dir=tmp_path / "out", device="cpu", smoke=True))
    assert report.result is not None and report.result.written, report
    lines = "\n".join(report.prepared.standins)
    assert "LLM/Florence-2-large, where the pack downloads microsoft/Florence-2-large" in lines
    assert "Florence-2 model folder" in lines
    assert "3" in report.result.executed
    mask = [Image.open(p) for p in report.result.written if Path(p).suffix == ".png"][-1].convert("L")
    assert mask.getextrema() == (0, 255)  # the stand-in's one box, filled white on black


def test_validate_reports_a_missing_folder_before_running(models_dir, tmp_path):
    from wfrun.graph.check import CheckOptions
    from wfrun.models.paths import ModelRoots
    from wfrun.packs.florence2.checks import florence2_folder_missing

    class Graph:  # the two attributes the check reads
        source = "wf.json"

        def __init__(self, nodes):
            self._nodes = nodes

        def nodes(self):
            return self._nodes

    class Node:
        def __init__(self, class_type, model):
            self.id, self.title, self.class_type, self.inputs = "7", None, class_type, {"model": model}

    graph = Graph([Node("DownloadAndLoadFlorence2Model", REPO), Node("DownloadAndLoadFlorence2Model", "x/Florence-2-large"),
                   Node("Florence2ModelLoader", "Florence-2-base"), Node("Florence2ModelLoader", "missing")])
    found = list(florence2_folder_missing(graph, CheckOptions(models=ModelRoots((models_dir,)))))
    assert [d.found for d in found] == ["x/Florence-2-large", "missing"]
    assert found[0].code == "missing-model" and "<models>/LLM/Florence-2-large" in found[0].hint
    assert list(florence2_folder_missing(graph, CheckOptions(models=None))) == []
