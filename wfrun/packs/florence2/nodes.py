"""``DownloadAndLoadFlorence2Model``, ``Florence2ModelLoader`` and ``Florence2Run``
(kijai/ComfyUI-Florence2) on transformers' Florence-2."""

from __future__ import annotations

import hashlib
import random
from typing import Any

import torch
from PIL import Image

from wfrun.models.florence2 import FOLDER, Florence2Error, find_florence2_folder, folder_name, load_florence2
from wfrun.models.header import CheckpointError
from wfrun.models.paths import ModelPathError
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.models import roots_of
from wfrun.packs.florence2.drawing import annotate, box_mask
from wfrun.packs.florence2.types import Florence2Model

PRECISIONS = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}

#: The pack's task names and the prompt tags they send.
TASK_PROMPTS = {
    "region_caption": "<OD>", "dense_region_caption": "<DENSE_REGION_CAPTION>", "region_proposal": "<REGION_PROPOSAL>",
    "caption": "<CAPTION>", "detailed_caption": "<DETAILED_CAPTION>",
    "more_detailed_caption": "<MORE_DETAILED_CAPTION>",
    "caption_to_phrase_grounding": "<CAPTION_TO_PHRASE_GROUNDING>",
    "referring_expression_segmentation": "<REFERRING_EXPRESSION_SEGMENTATION>", "ocr": "<OCR>",
    "ocr_with_region": "<OCR_WITH_REGION>", "docvqa": "<DocVQA>", "prompt_gen_tags": "<GENERATE_TAGS>",
    "prompt_gen_mixed_caption": "<MIXED_CAPTION>", "prompt_gen_analyze": "<ANALYZE>",
    "prompt_gen_mixed_caption_plus": "<MIXED_CAPTION_PLUS>",
}
#: Tasks that take ``text_input`` (the pack refuses text for every other task).
TEXT_TASKS = ("referring_expression_segmentation", "caption_to_phrase_grounding", "docvqa")
BOX_TASKS = ("region_caption", "dense_region_caption", "caption_to_phrase_grounding", "region_proposal")
#: Tasks whose outputs wfrun does not make yet.
UNSUPPORTED_TASKS = ("ocr_with_region", "docvqa")


def _load(ctx: ExecContext, model: str, precision: str, lora: Any, *, repo_id: bool) -> tuple:
    if lora is not None:
        raise NodeInputError("lora", "Florence-2 PEFT LoRAs are not supported by wfrun yet",
                             "disconnect the lora input")
    if precision not in PRECISIONS:
        raise NodeInputError("precision", f"unknown precision {precision!r}", f"use one of {', '.join(PRECISIONS)}")
    roots = roots_of(ctx)
    try:
        folder = find_florence2_folder(roots, model, repo_id=repo_id)
    except ModelPathError as err:
        searched = roots.folders(FOLDER)
        target = (searched[0] if searched else f"<models>/{FOLDER}")
        name = folder_name(model) if repo_id and "/" in str(model) else model
        fetch = f"download the Hugging Face repository {model} " if repo_id else "put the model's files "
        raise NodeInputError(
            "model", str(err),
            f"wfrun never downloads models: {fetch}into {target}/{name} (a folder with config.json, the "
            "tokenizer files and model.safetensors), or give the models folder with --models DIR") from None
    dtype = PRECISIONS[precision]
    if str(ctx.device).startswith("cpu") and dtype != torch.float32:
        dtype = torch.float32  # half precision on the CPU is slow and not every op has it
    try:
        parts = load_florence2(folder, dtype=dtype)
    except (CheckpointError, Florence2Error) as err:
        raise NodeInputError("model", str(err).splitlines()[0],
                             "the folder must hold a Florence-2 model as its Hugging Face repository has it") from None
    return (Florence2Model(parts.model, parts.processor, dtype, folder, parts.layout),)


@executor("DownloadAndLoadFlorence2Model")
def download_and_load_florence2(ctx: ExecContext, model: str, precision: str, lora: Any = None,
                                **unused: Any) -> tuple:
    """Load the Florence-2 repository ``model`` from ``<models>/LLM/<its last part>``.

    Differences from the pack: nothing is downloaded (a missing folder is an error saying
    where to put it); transformers' Florence-2 is built instead of the repository's remote
    code (``models.florence2`` converts the original layout); PyTorch attention is used
    whatever ``attention`` says (sdpa, as the pack's default; flash_attention_2 and eager
    compute the same thing); ``convert_to_safetensors`` is ignored (wfrun never writes into a
    model folder: a ``pytorch_model.bin`` needs ``--allow-pickle``, and is then read
    weights-only); PEFT LoRAs are refused; on a CPU run the weights stay fp32."""
    return _load(ctx, model, precision, lora, repo_id=True)


@executor("Florence2ModelLoader")
def florence2_model_loader(ctx: ExecContext, model: str, precision: str, lora: Any = None, **unused: Any) -> tuple:
    """Load the Florence-2 folder named ``model`` in ``<models>/LLM/`` (as
    ``DownloadAndLoadFlorence2Model``, without a repository id)."""
    return _load(ctx, model, precision, lora, repo_id=False)


def hash_seed(seed: int) -> int:
    """The pack's seed: SHA-256 of the decimal text, modulo 2**32."""
    return int(hashlib.sha256(str(seed).encode("utf-8")).hexdigest(), 16) % (2 ** 32)


def to_pil(frame: torch.Tensor) -> Image.Image:
    """A ``[H, W, 3]`` 0..1 frame as an 8-bit image, truncating as torchvision's
    ``to_pil_image`` does (``mul(255).byte()``)."""
    data = (frame[..., :3].float().clamp(0, 1) * 255).to(torch.uint8).cpu().numpy()
    return Image.fromarray(data, "RGB")


def generate(fl: Florence2Model, prompt: str, image: Image.Image, device: torch.device, *, max_new_tokens: int,
             num_beams: int, do_sample: bool) -> str:
    """The decoded generation, special tokens kept (the pack's ``batch_decode(...,
    skip_special_tokens=False)[0]``)."""
    inputs = fl.processor(text=prompt, images=image, return_tensors="pt")
    with torch.no_grad():
        ids = fl.model.generate(input_ids=inputs["input_ids"].to(device),
                                pixel_values=inputs["pixel_values"].to(device=device, dtype=fl.dtype),
                                max_new_tokens=max_new_tokens, do_sample=do_sample, num_beams=num_beams)
    return fl.processor.batch_decode(ids, skip_special_tokens=False)[0]


#: Dates of the signatures whose ``caption`` output is a list output (the docstring below).
LIST_CAPTION_DATES = frozenset({"2024-07-21"})


@executor("Florence2Run")
def florence2_run(ctx: ExecContext, image: torch.Tensor, florence2_model: Florence2Model, text_input: str, task: str,
                  fill_mask: bool, keep_model_loaded: bool, max_new_tokens: int, num_beams: int, do_sample: bool,
                  output_mask_select: str, seed: int | None, **unused: Any) -> tuple:
    """``(image, mask, caption, data)`` for each frame, as the pack makes them.

    The prompt is the task's tag, plus ``" " + text_input`` when there is text (only the
    grounding, segmentation and DocVQA tasks take text); a non-zero ``seed`` seeds Python,
    NumPy and torch with the pack's hash of it (``transformers.set_seed``) before the
    frames run. ``caption`` is the generated text without ``<s>``/``</s>``: one string for
    one frame, a Python list for several; in files saved with the signature of 2024-07-21
    (the pack's commit 69cdbb9a, reverted four days later) ``caption`` is a list output
    (``OUTPUT_IS_LIST``), one item per frame, which later nodes run on one at a time. Box tasks give the picture with boxes, the mask of the
    selected boxes (``fill_mask``) and ``data``: per frame, the post-processor's
    ``{"bboxes", "labels"}`` for phrase grounding, the box list for the others.
    Referring-expression segmentation gives the polygons drawn and their mask. Other tasks
    leave image and mask at the pack's 64x64 zeros.

    Differences: transformers' processor and post-processor replace the remote code's (the
    same prompts, image size and parsing; coordinates are the original's float bin centres,
    not transformers' truncated integers: ``models.florence2.original_dequantize``); the pack passes ``do_rescale=False``, which the
    remote processor does not forward, so 0..255 pixels are rescaled in both; generation
    uses the key/value cache (the pack turns it off as a workaround for its remote code;
    the tokens are the same); boxes are drawn with Pillow (``drawing``);
    ``ocr_with_region`` and ``docvqa`` are refused."""
    if not isinstance(florence2_model, Florence2Model):
        raise NodeInputError("florence2_model", f"expected an FL2MODEL, got {type(florence2_model).__name__}",
                             "connect DownloadAndLoadFlorence2Model's output")
    if task not in TASK_PROMPTS:
        raise NodeInputError("task", f"unknown task {task!r}", f"use one of {', '.join(TASK_PROMPTS)}")
    if task in UNSUPPORTED_TASKS:
        raise NodeInputError("task", f"the {task} task is not supported by wfrun yet",
                             "use ocr, a caption task or caption_to_phrase_grounding")
    if task not in TEXT_TASKS and text_input:
        raise NodeInputError("text_input", f"the {task} task takes no text",
                             f"clear text_input, or pick one of {', '.join(TEXT_TASKS)}")
    if not isinstance(image, torch.Tensor) or image.ndim != 4 or image.shape[0] == 0:
        raise NodeInputError("image", "expected an IMAGE [frames, height, width, 3]")
    task_prompt = TASK_PROMPTS[task]
    prompt = f"{task_prompt} {text_input}" if text_input != "" else task_prompt
    if seed:
        from transformers import set_seed

        set_seed(hash_seed(seed))
    device = torch.device(ctx.device)
    model = florence2_model.model
    model.to(device)
    single = image.shape[0] == 1
    images, masks, captions, data = [], [], [], []
    try:
        for frame in image:
            ctx.check_interrupt()
            pil = to_pil(frame)
            raw = generate(florence2_model, prompt, pil, device, max_new_tokens=max_new_tokens, num_beams=num_beams,
                           do_sample=do_sample)
            captions.append(raw.replace("</s>", "").replace("<s>", ""))
            size = pil.size
            parsed = florence2_model.processor.post_process_generation(raw, task=task_prompt, image_size=size)
            answer = parsed[task_prompt]
            if task in BOX_TASKS:
                boxes, labels = answer["bboxes"], answer["labels"]
                if fill_mask:
                    masks.append(box_mask(size, boxes, labels, output_mask_select))
                images.append(annotate(pil, boxes, labels, random, single))
                data.append(answer if task == "caption_to_phrase_grounding" else boxes)
            elif task == "referring_expression_segmentation":
                from wfrun.packs.florence2.drawing import polygons

                picture, mask = polygons(pil, answer["polygons"], fill_mask, random)
                images.append(picture)
                masks.append(mask)
    finally:
        if not keep_model_loaded:
            model.to(ctx.offload_device)
    out_image = torch.cat(images) if images else torch.zeros((1, 64, 64, 3), dtype=torch.float32)
    out_mask = torch.cat(masks) if masks else torch.zeros((1, 64, 64), dtype=torch.float32)
    caption: Any = captions if ctx.saved_date in LIST_CAPTION_DATES else captions[0] if single else captions
    return out_image, out_mask, caption, data
