"""KJNodes' CLIPSeg nodes on a tiny random CLIPSeg folder: the mask post-processing against
a NumPy reference written from the pack's steps, the loader, the missing-model error, and a
``--smoke`` run with the stand-in folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from wfrun.media.image import save_target
from wfrun.models.clipseg_tiny import write_tiny_clipseg
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.packs.kjnodes.clipseg import ClipSegModel
from tests.node_helpers import node

REPO = "Kijai/clipseg-rd64-refined-fp16"


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("models")
    write_tiny_clipseg(root / "clip_seg" / "clipseg-rd64-refined-fp16", seed=3)
    return root


@pytest.fixture(scope="module")
def loaded(models_dir) -> ClipSegModel:
    return node("DownloadAndLoadCLIPSeg")(ExecContext(models=models_dir), model=REPO)[0]


def _images(frames=3, h=36, w=44, seed=0):
    return torch.rand(frames, h, w, 3, generator=torch.Generator().manual_seed(seed))


def _reference_logits(folder: Path, images: torch.Tensor, text: str) -> np.ndarray:
    """The logits of transformers' own model (``from_pretrained``) on the pack's 8-bit frames."""
    from PIL import Image
    from transformers import CLIPSegForImageSegmentation, CLIPSegProcessor, CLIPTokenizer
    from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

    model = CLIPSegForImageSegmentation.from_pretrained(str(folder), local_files_only=True).eval()
    processor = CLIPSegProcessor(image_processor=ViTImageProcessorPil.from_pretrained(str(folder)),
                                 tokenizer=CLIPTokenizer.from_pretrained(str(folder)))
    pil = [Image.fromarray(np.clip(255.0 * f.numpy(), 0, 255).astype(np.uint8)) for f in images]
    inputs = processor(text=[text] * len(pil), images=pil, return_tensors="pt")
    with torch.no_grad():
        return model(**inputs).logits.numpy().astype(np.float64)


def _nearest(a: np.ndarray, h: int, w: int) -> np.ndarray:
    """Nearest-neighbour resize as PyTorch's 'nearest': source index floor(dst * in / out)."""
    rows = np.floor(np.arange(h) * (a.shape[-2] / h)).astype(int)
    cols = np.floor(np.arange(w) * (a.shape[-1] / w)).astype(int)
    return a[:, rows][:, :, cols]


def _blur(a: np.ndarray, sigma: float) -> np.ndarray:
    """torchvision's GaussianBlur: kernel 6*int(sigma)+1, reflect padding, direct 2-D sums."""
    k = 6 * int(sigma) + 1
    x = np.arange(k) - (k - 1) / 2
    g = np.exp(-0.5 * (x / sigma) ** 2)
    g /= g.sum()
    kernel = np.outer(g, g)
    pad = k // 2
    out = np.empty_like(a)
    for i, frame in enumerate(a):
        p = np.pad(frame, pad, mode="reflect")
        windows = np.lib.stride_tricks.sliding_window_view(p, (k, k))
        out[i] = (windows * kernel).sum(axis=(-1, -2))
    return out


def _reference(logits, images, *, threshold, binary_mask, blur_sigma, combine_mask, prev=None, invert=False,
               bg=0.5):
    probs = 1 / (1 + np.exp(-logits))
    probs = (probs - probs.min()) / (probs.max() - probs.min())
    probs = np.where(probs > threshold, probs, 0.0)
    frames, h, w, _ = images.shape
    mask = _nearest(probs, h, w)
    if binary_mask:
        mask = (mask > 0).astype(np.float64)
    if blur_sigma > 0:
        mask = _blur(mask, blur_sigma)
    if combine_mask:
        mask = np.repeat(mask.max(axis=0, keepdims=True), frames, axis=0)
    if prev is not None:
        mask = mask + prev
    if invert:
        mask = 1 - mask
    img = images.numpy().astype(np.float64)
    image = np.clip(img * mask[..., None] + (1 - mask[..., None]) * bg, 0, 1)
    return mask, image


CASES = [
    dict(threshold=0.4, binary_mask=False, blur_sigma=0.0, combine_mask=False),
    dict(threshold=0.3, binary_mask=True, blur_sigma=0.0, combine_mask=False),
    dict(threshold=0.25, binary_mask=True, blur_sigma=1.7, combine_mask=True),
    dict(threshold=0.5, binary_mask=False, blur_sigma=2.0, combine_mask=False, invert=True, image_bg_level=0.2),
]


@pytest.mark.parametrize("case", CASES)
def test_masks_follow_the_pack_steps(models_dir, loaded, case):
    images = _images()
    logits = _reference_logits(models_dir / "clip_seg" / "clipseg-rd64-refined-fp16", images, "face")
    assert logits.shape == (3, 64, 64) and logits.std() > 0.1  # graded values, so the threshold cuts
    mask, image = node("BatchCLIPSeg")(ExecContext(), images=images, text="face", opt_model=loaded,
                                       use_cuda=False, **case)
    want_mask, want_image = _reference(logits, images, threshold=case["threshold"],
                                       binary_mask=case["binary_mask"], blur_sigma=case["blur_sigma"],
                                       combine_mask=case["combine_mask"], invert=case.get("invert", False),
                                       bg=case.get("image_bg_level", 0.5))
    assert mask.shape == (3, 36, 44) and mask.dtype == torch.float32
    assert image.shape == (3, 36, 44, 3)
    np.testing.assert_allclose(mask.numpy(), want_mask, atol=1e-5)
    np.testing.assert_allclose(image.numpy(), want_image, atol=1e-5)
    if not case["binary_mask"] and not case["blur_sigma"]:
        kept = want_mask[want_mask > 0]
        assert kept.min() > case["threshold"] and (kept < 1).any()  # values above it keep their level


def test_prev_mask_is_added_unclamped_and_resized(loaded, models_dir):
    images = _images(frames=2)
    prev = torch.zeros(1, 9, 11)
    prev[:, :4] = 1.0
    mask, image = node("BatchCLIPSeg")(ExecContext(), images=images, text="face", opt_model=loaded, use_cuda=False,
                                       threshold=0.2, binary_mask=True, combine_mask=False, prev_mask=prev)
    logits = _reference_logits(models_dir / "clip_seg" / "clipseg-rd64-refined-fp16", images, "face")
    prev_big = _nearest(prev.numpy().astype(np.float64), 36, 44)
    want_mask, want_image = _reference(logits, images, threshold=0.2, binary_mask=True, blur_sigma=0.0,
                                       combine_mask=False, prev=prev_big)
    np.testing.assert_allclose(mask.numpy(), want_mask, atol=1e-6)
    np.testing.assert_allclose(image.numpy(), want_image, atol=1e-6)
    assert mask.max() == 2.0  # the pack's clamp is thrown away: overlaps sum to 2


def test_blur_larger_than_the_frame_is_an_input_error(loaded):
    with pytest.raises(NodeInputError) as err:
        node("BatchCLIPSeg")(ExecContext(), images=_images(h=20, w=20), text="face", opt_model=loaded,
                             use_cuda=False, threshold=0.2, binary_mask=True, combine_mask=False, blur_sigma=10.0)
    assert err.value.input_name == "blur_sigma" and "61x61" in str(err.value)


def test_loader_reads_the_tiny_folder(models_dir, loaded):
    folder = models_dir / "clip_seg" / "clipseg-rd64-refined-fp16"
    assert isinstance(loaded, ClipSegModel) and loaded.folder == folder
    stored = load_file(str(folder / "model.safetensors"))
    params = dict(loaded.model.state_dict())
    assert set(stored) <= set(params)
    for name, tensor in stored.items():
        assert torch.equal(params[name], tensor), name
    assert loaded.processor.tokenizer("face")["input_ids"][0] == loaded.processor.tokenizer.bos_token_id
    # without a connected model, BatchCLIPSeg reads the pack's own folder
    mask, _ = node("BatchCLIPSeg")(ExecContext(models=models_dir), images=_images(frames=1), text="face",
                                   use_cuda=False, threshold=0.3, binary_mask=True, combine_mask=False)
    want, _ = node("BatchCLIPSeg")(ExecContext(), images=_images(frames=1), text="face", opt_model=loaded,
                                   use_cuda=False, threshold=0.3, binary_mask=True, combine_mask=False)
    assert torch.equal(mask, want)


def test_missing_model_names_where_to_put_it(tmp_path):
    (tmp_path / "clip_seg").mkdir()
    with pytest.raises(NodeInputError) as err:
        node("DownloadAndLoadCLIPSeg")(ExecContext(models=tmp_path), model="CIDAS/clipseg-rd64-refined")
    assert err.value.input_name == "model"
    assert "clipseg-rd64-refined" in str(err.value)
    assert "https://huggingface.co/CIDAS/clipseg-rd64-refined" in err.value.hint
    assert str(tmp_path / "clip_seg" / "clipseg-rd64-refined") in err.value.hint
    assert "never downloads" in err.value.hint
    with pytest.raises(NodeInputError) as err:
        node("BatchCLIPSeg")(ExecContext(models=tmp_path), images=_images(frames=1), text="face", use_cuda=False,
                             threshold=0.3, binary_mask=True, combine_mask=False)
    assert err.value.input_name == "opt_model" and "Kijai/clipseg-rd64-refined-fp16" in err.value.hint


def test_a_pickle_only_folder_is_refused(tmp_path):
    folder = tmp_path / "clip_seg" / "clipseg-rd64-refined"
    write_tiny_clipseg(folder)
    state = load_file(str(folder / "model.safetensors"))
    (folder / "model.safetensors").unlink()
    torch.save(state, folder / "pytorch_model.bin")
    with pytest.raises(NodeInputError) as err:
        node("DownloadAndLoadCLIPSeg")(ExecContext(models=tmp_path), model="CIDAS/clipseg-rd64-refined")
    assert "pickle" in str(err.value).lower()


def test_empty_filename_prefix_saves_in_the_output_folder(tmp_path):
    """VHS previews saved with an empty prefix: ComfyUI names them ``._00001…`` in the folder."""
    target = save_target(tmp_path, "")
    assert target.folder == tmp_path.resolve() and target.filename == "." and target.subfolder == ""
    (tmp_path / "._00004.png").write_bytes(b"")
    assert save_target(tmp_path, "").counter == 5


def test_smoke_run_with_the_stand_in_folder(tmp_path, monkeypatch):
    """``wfrun run --smoke``: the CLIPSeg folder is stood in for under the repository's last
    part, and the masks reach the saved files."""
    from wfrun.jobs.run import RunOptions, run_file

    monkeypatch.setenv("WFRUN_CACHE", str(tmp_path / "cache"))
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "portrait.png"}},
        "2": {"class_type": "DownloadAndLoadCLIPSeg", "inputs": {"model": REPO}},
        "3": {"class_type": "BatchCLIPSeg",
              "inputs": {"images": ["1", 0], "opt_model": ["2", 0], "text": "face", "threshold": 0.25,
                         "binary_mask": True, "combine_mask": True, "use_cuda": True, "blur_sigma": 2.0,
                         "image_bg_level": 0.0, "invert": False}},
        "4": {"class_type": "PreviewImage", "inputs": {"images": ["3", 1]}},
        "5": {"class_type": "MaskToImage", "inputs": {"mask": ["3", 0]}},
        "6": {"class_type": "SaveImage", "inputs": {"images": ["5", 0], "filename_prefix": ""}},
    }
    path = tmp_path / "clipseg.json"
    path.write_text(json.dumps(prompt))
    report = run_file(path, RunOptions(output_dir=tmp_path / "out", device="cpu", smoke=True))
    assert report.result is not None and report.result.written, report
    lines = "\n".join(report.prepared.standins)
    assert "clip_seg/clipseg-rd64-refined-fp16, where the pack downloads Kijai/clipseg-rd64-refined-fp16" in lines
    assert "CLIPSeg model folder" in lines
    assert "3" in report.result.executed
    saved = [Path(p) for p in report.result.written if Path(p).name.startswith("._")]
    assert saved and saved[0].parent == (tmp_path / "out").resolve()
