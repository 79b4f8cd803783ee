"""Tiny random Qwen2.5-VL and Qwen3-VL folders, in the Hugging Face layout, for tests and
``--smoke`` stand-ins (``config.json``, ``model.safetensors``, tokenizer files,
``preprocessor_config.json``, for Qwen3-VL ``video_preprocessor_config.json``, ``chat_template.jinja``).

The tokenizer is a byte-level BPE without merges (every byte a token) plus Qwen's chat and
vision special tokens, so prompts of any text tokenize; the chat template is wfrun's own short
one in the layout of Qwen's (``<|im_start|>role\\n…<|im_end|>``, an image as
``<|vision_start|><|image_pad|><|vision_end|>``). Images are cut in 14 (Qwen2.5) or 16
(Qwen3) pixel patches, between 4x4 and 8x8 merged tokens.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

#: Bump when what the tiny folders hold changes.
TINY_QWENVL_VERSION = "3"

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                  "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>")

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif item['type'] == 'video' %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")

#: What the scripted stand-in answers to a chat, then ``<|im_end|>``.
SCRIPT = "A cat."


def tiny_tokenizer():
    from tokenizers import AddedToken, Tokenizer, decoders, pre_tokenizers
    from tokenizers.models import BPE
    from transformers import PreTrainedTokenizerFast

    vocab = {c: i for i, c in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    backend = Tokenizer(BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
    return PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   model_max_length=32768)


def write_tiny_qwenvl(folder: str | Path, *, kind: str = "qwen2_5_vl", seed: int = 0,
                      scripted: bool = False) -> Path:
    """Write a tiny random ``kind`` (``qwen2_5_vl`` or ``qwen3_vl``) folder. ``scripted`` (the
    ``--smoke`` stand-in) answers :data:`SCRIPT` after a chat's ``assistant\\n`` whatever it is
    shown, so a run does not decode thousands of random tokens (see :func:`_script`)."""
    from transformers.models.qwen2_vl import Qwen2VLImageProcessorPil

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tok = tiny_tokenizer()
    ids = dict(zip(SPECIAL_TOKENS, tok.convert_tokens_to_ids(list(SPECIAL_TOKENS))))
    text = dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, max_position_embeddings=4096, bos_token_id=ids["<|endoftext|>"],
                eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"])
    if kind == "qwen2_5_vl":
        from transformers import Qwen2_5_VLConfig as Config, Qwen2_5_VLForConditionalGeneration as Model

        patch = 14
        vision = dict(depth=2, hidden_size=16, intermediate_size=32, num_heads=2, patch_size=patch, out_hidden_size=32,
                      window_size=56, fullatt_block_indexes=[1], spatial_merge_size=2, temporal_patch_size=2)
        text["rope_parameters"] = {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 1, 1]}
    elif kind == "qwen3_vl":
        from transformers import Qwen3VLConfig as Config, Qwen3VLForConditionalGeneration as Model

        patch = 16
        vision = dict(depth=2, hidden_size=16, intermediate_size=32, num_heads=2, patch_size=patch, out_hidden_size=32,
                      num_position_embeddings=64, deepstack_visual_indexes=[0], spatial_merge_size=2,
                      temporal_patch_size=2)
        text.update(head_dim=8, rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                                 "mrope_section": [2, 1, 1], "mrope_interleaved": True})
    else:
        raise ValueError(f"no tiny Qwen-VL of kind {kind!r}")
    config = Config(text_config=text, vision_config=vision, image_token_id=ids["<|image_pad|>"],
                    video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
                    vision_end_token_id=ids["<|vision_end|>"])
    torch.manual_seed(seed)
    model = Model(config).eval()
    with torch.no_grad():
        for param in model.parameters():  # default init leaves norms at 1 and biases at 0: perturb all
            param.add_(torch.randn_like(param) * 0.02)
        if scripted:
            _script(model, tok)
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)
    unit = patch * patch * 4  # one merged token
    Qwen2VLImageProcessorPil(patch_size=patch, merge_size=2, temporal_patch_size=2,
                             min_pixels=unit * 16, max_pixels=unit * 64).save_pretrained(folder)
    if kind == "qwen3_vl":  # Qwen3-VL repositories name their video processor in a file of its own
        video = dict(video_processor_type="Qwen3VLVideoProcessor", patch_size=patch, temporal_patch_size=2,
                     merge_size=2, image_mean=[0.5] * 3, image_std=[0.5] * 3, fps=2, min_frames=4, max_frames=768,
                     do_sample_frames=True, size={"shortest_edge": unit * 8, "longest_edge": unit * 128})
        (folder / "video_preprocessor_config.json").write_text(json.dumps(video, indent=2) + "\n", encoding="utf-8")
    (folder / "chat_template.jinja").write_text(CHAT_TEMPLATE, encoding="utf-8")
    (folder / "wfrun_tiny.json").write_text(json.dumps({"version": TINY_QWENVL_VERSION, "kind": kind, "seed": seed,
                                                        "scripted": scripted}) + "\n", encoding="utf-8")
    return folder


def _script(model, tok) -> None:
    """A bigram decoder: attention and MLP outputs zeroed, so each position's last hidden state
    is its own token's (normalised) embedding; the output row of each next token of
    ``"\\n" + SCRIPT + <|im_end|>`` points along the embedding of the token before it."""
    language = model.model.language_model
    for layer in language.layers:
        layer.self_attn.o_proj.weight.zero_()
        layer.mlp.down_proj.weight.zero_()
    language.norm.weight.fill_(1.0)
    chain = tok("\n" + SCRIPT, add_special_tokens=False)["input_ids"] + [tok.convert_tokens_to_ids("<|im_end|>")]
    steps = list(zip(chain[:-1], chain[1:]))
    width = language.embed_tokens.weight.shape[1]
    basis = torch.linalg.qr(torch.randn(width, len(steps), generator=torch.Generator().manual_seed(0))).Q.T
    head = model.lm_head.weight
    head.zero_()
    for row, (current, following) in zip(basis, steps):
        language.embed_tokens.weight[current] = row * width ** 0.5
        head[following] = row * 40


def write_tiny_prompts(folder: str | Path) -> Path:
    """A stand-in for the packs' ``AILab_System_Prompts.json``: no presets (a preset is then
    sent as its own name, as the packs do with one they lack) and one enhancer style of
    wfrun's own words (the packs fall back to their first style). Written in ``folder``
    (``LLM/Qwen-VL``, where wfrun reads ComfyUI-QwenVL-Mod's) and in its ``ComfyUI-QwenVL``
    folder (where it reads 1038lab's)."""
    path = Path(folder) / "AILab_System_Prompts.json"
    data = {"qwenvl": {}, "qwen_text": {"styles": {"wfrun stand-in": {"system_prompt": "Rewrite this prompt."}}}}
    for place in (path, Path(folder) / "ComfyUI-QwenVL" / path.name):
        place.parent.mkdir(parents=True, exist_ok=True)
        place.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return path
