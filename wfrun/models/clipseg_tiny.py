"""A tiny random CLIPSeg folder, in the layout of ``CIDAS/clipseg-rd64-refined``, for tests
and ``--smoke`` stand-ins.

The folder holds what the real repository holds and the loader reads: ``config.json``
(CLIPSeg with 16-wide text and vision towers, the refined model's complex transposed
convolution), ``model.safetensors``, a CLIP BPE tokenizer and the ViT image processor
settings (a 64-pixel square instead of 352, ImageNet mean and std, bilinear resize). The
tokenizer is SAM 3's tiny CLIP one (``tiny_sam3``: the byte symbols, a few whole words,
``<|startoftext|>``/``<|endoftext|>``), so it works offline.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

#: Bump when what the tiny folder holds changes.
TINY_CLIPSEG_VERSION = "1"
#: Side of the tiny processor's square input (the real one: 352); patches of 16.
TINY_IMAGE_SIZE = 64


def tiny_tokenizer():
    from transformers import CLIPTokenizer

    from wfrun.models.tiny_sam3 import tiny_tokenizer_files

    vocab, merges = tiny_tokenizer_files()
    return CLIPTokenizer(vocab=vocab, merges=[tuple(m.split(" ")) for m in merges], model_max_length=77)


def tiny_processor():
    from transformers import CLIPSegProcessor
    from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

    image_processor = ViTImageProcessorPil(
        do_resize=True, size={"height": TINY_IMAGE_SIZE, "width": TINY_IMAGE_SIZE}, resample=2, do_rescale=True,
        rescale_factor=1 / 255, do_normalize=True, image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])
    return CLIPSegProcessor(image_processor=image_processor, tokenizer=tiny_tokenizer())


def tiny_config(tokenizer):
    """A ``CLIPSegConfig`` a few tens of thousands of parameters wide, shaped as the refined
    rd64 model (three extracted vision layers, complex transposed convolution)."""
    from transformers import CLIPSegConfig

    text = dict(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                num_attention_heads=2, max_position_embeddings=77, bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    vision = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=3, num_attention_heads=2,
                  image_size=TINY_IMAGE_SIZE, patch_size=16)
    return CLIPSegConfig(text_config=text, vision_config=vision, projection_dim=8, extract_layers=[0, 1, 2],
                         reduce_dim=8, decoder_num_attention_heads=2, decoder_intermediate_size=16,
                         conditional_layer=0, use_complex_transposed_convolution=True)


def write_tiny_clipseg(folder: str | Path, *, seed: int = 0, dtype: torch.dtype = torch.float32) -> Path:
    """Write a tiny random CLIPSeg (transformers layout, ``model.safetensors``) into ``folder``."""
    from safetensors.torch import save_file
    from transformers import CLIPSegForImageSegmentation

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    processor = tiny_processor()
    config = tiny_config(processor.tokenizer)
    torch.manual_seed(seed)
    model = CLIPSegForImageSegmentation(config).eval()
    with torch.no_grad():  # default init leaves norms at 1/0 and biases at 0: perturb all
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.02)
        last = model.decoder.transposed_convolution[-1]  # logits of a few units, not tens:
        last.weight.mul_(0.05)  # sigmoid then gives graded values for thresholds to cut
    state = {k: v.detach().to(dtype).contiguous() for k, v in model.state_dict().items()
             if not k.endswith("position_ids")}
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    config.save_pretrained(folder)
    processor.save_pretrained(folder)
    processor.image_processor.save_pretrained(folder)  # preprocessor_config.json, as the real repository
    (folder / "wfrun_tiny.json").write_text(json.dumps({"version": TINY_CLIPSEG_VERSION, "seed": seed}) + "\n",
                                            encoding="utf-8")
    return folder
