"""A tiny random Florence-2 folder, in transformers' layout, for tests and ``--smoke`` stand-ins.

Florence-2 models are folders (config, tokenizer files, processor config, safetensors), not
single files, so the stand-in is a folder too. The tokenizer is a byte-level BPE without
merges (every byte a token, as BART's byte-level BPE does before merging) plus the special
tokens Florence-2 needs: BART's four, the 1000 ``<loc_N>`` location bins, the task tags and
``<image>``. That is enough for the processor to build prompts and for the post-processor
to parse boxes, with a vocabulary of ~1,300 rows instead of 51,000.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

#: Bump when what the tiny folder holds changes.
TINY_FLORENCE2_VERSION = "2"

#: Side of the tiny processor's square input; the DaViT tower downsamples by 32, so the
#: image gives (64/32)^2 = 4 spatial tokens plus one pooled token.
TINY_IMAGE_SIZE = 64
TINY_IMAGE_TOKENS = (TINY_IMAGE_SIZE // 32) ** 2 + 1

#: The tags the original Florence-2 processor adds to BART's vocabulary, in its order: four
#: before the 1000 location bins, the rest after them.
HEAD_TOKENS = ("<od>", "</od>", "<ocr>", "</ocr>")
TASK_TOKENS = ("<cap>", "</cap>", "<ncap>", "</ncap>", "<dcap>", "</dcap>",
               "<grounding>", "</grounding>", "<seg>", "</seg>", "<sep>", "<region_cap>", "</region_cap>",
               "<region_to_desciption>", "</region_to_desciption>", "<proposal>", "</proposal>", "<poly>",
               "</poly>", "<and>")
LOC_TOKENS = tuple(f"<loc_{i}>" for i in range(1000))
ADDED_TOKENS = (*HEAD_TOKENS, *LOC_TOKENS, *TASK_TOKENS)
IMAGE_TOKEN = "<image>"


def tiny_backend(*, florence_tokens: bool = True):
    """The ``tokenizers`` object: BART's four specials, the 256 byte symbols, then (with
    ``florence_tokens``) the Florence-2 tags and ``<image>``. Without them it is laid out as
    an original Florence-2 repository's ``tokenizer.json``, to which the processor adds them."""
    from tokenizers import AddedToken, Tokenizer, decoders, pre_tokenizers
    from tokenizers.models import BPE

    byte_chars = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for char in byte_chars:
        vocab[char] = len(vocab)
    backend = Tokenizer(BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    specials = ("<s>", "<pad>", "</s>", "<unk>", *((*ADDED_TOKENS, IMAGE_TOKEN) if florence_tokens else ()))
    backend.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    return backend


def tiny_tokenizer():
    """A ``PreTrainedTokenizerFast`` laid out as Florence-2's BART tokenizer, tiny."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=tiny_backend(), bos_token="<s>", eos_token="</s>",
                                   pad_token="<pad>", unk_token="<unk>", model_max_length=1024,
                                   extra_special_tokens={"image_token": IMAGE_TOKEN})


def tiny_config(vocab_size: int, image_token_id: int, *, bos: int = 0, pad: int = 1, eos: int = 2, tied: bool = True):
    """A ``Florence2Config`` a few thousand parameters wide, with Florence-2's structure
    (four DaViT stages, a BART encoder-decoder, tied embeddings)."""
    from transformers import Florence2Config

    vision = dict(depths=[1, 1, 1, 1], embed_dim=[8, 16, 16, 16], num_heads=[1, 2, 2, 2], num_groups=[1, 2, 2, 2],
                  window_size=2, projection_dim=16, max_position_embeddings=8, max_temporal_embeddings=4,
                  drop_path_rate=0.0)
    text = dict(vocab_size=vocab_size, d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=1024,
                bos_token_id=bos, pad_token_id=pad, eos_token_id=eos, decoder_start_token_id=eos,
                forced_bos_token_id=bos, forced_eos_token_id=eos, scale_embedding=False, tie_word_embeddings=tied)
    return Florence2Config(vision_config=vision, text_config=text, image_token_id=image_token_id,
                           bos_token_id=bos, pad_token_id=pad, eos_token_id=eos, decoder_start_token_id=eos,
                           tie_word_embeddings=tied)


def tiny_processor(tokenizer=None):
    """A ``Florence2Processor`` with the tiny tokenizer and a 64-pixel CLIP image processor
    (Florence-2's: resize to a square, no crop, ImageNet mean and std)."""
    from transformers import CLIPImageProcessor, Florence2Processor

    tokenizer = tokenizer or tiny_tokenizer()
    image_processor = CLIPImageProcessor(
        do_resize=True, size={"height": TINY_IMAGE_SIZE, "width": TINY_IMAGE_SIZE}, do_center_crop=False,
        crop_size={"height": TINY_IMAGE_SIZE, "width": TINY_IMAGE_SIZE}, do_rescale=True, rescale_factor=1 / 255,
        do_normalize=True, image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225], resample=3,
        do_convert_rgb=False)
    image_processor.image_seq_length = TINY_IMAGE_TOKENS
    return Florence2Processor(image_processor=image_processor, tokenizer=tokenizer,
                              post_processor_config=POST_PROCESSOR_CONFIG)


#: Phrases the original post-processor never grounds (pronouns, determiners, "image", ...).
BANNED_GROUNDING_PHRASES = (
    "it", "I", "me", "mine", "you", "your", "yours", "he", "him", "his", "she", "her", "hers", "they", "them",
    "their", "theirs", "one", "oneself", "we", "us", "our", "ours", "its", "myself", "yourself", "himself",
    "herself", "itself", "ourselves", "yourselves", "themselves", "this", "that", "these", "those", "who", "whom",
    "whose", "which", "what", "all", "another", "any", "anybody", "anyone", "anything", "each", "everybody",
    "everyone", "everything", "few", "many", "nobody", "none", "several", "some", "somebody", "someone",
    "something", "each other", "one another", "the image", "image", "images", "the", "a", "an", "a group",
    "other objects", "lots", "a set")

#: The post-processor's parse settings, as Florence-2's processor configs give them.
POST_PROCESSOR_CONFIG = {
    "ocr": {"pattern": r"(.+?)<loc_(\d+)><loc_(\d+)><loc_(\d+)><loc_(\d+)><loc_(\d+)><loc_(\d+)><loc_(\d+)><loc_(\d+)>",
            "area_threshold": 0.0},
    "phrase_grounding": {"banned_grounding_tokens": list(BANNED_GROUNDING_PHRASES)},
    "pure_text": {}, "description_with_bboxes": {}, "description_with_polygons": {}, "polygons": {},
    "bboxes": {}, "description_with_bboxes_or_polygons": {},
}


#: What the scripted stand-in answers to every prompt: a grounded phrase with one box, so
#: captions are short and phrase grounding finds a box for Florence2toCoordinates.
SCRIPT = "<s>face<loc_100><loc_200><loc_800><loc_900></s>"


def write_tiny_florence2(folder: str | Path, *, seed: int = 0, dtype: torch.dtype = torch.float32,
                         scripted: bool = False) -> Path:
    """Write a tiny random Florence-2 (transformers layout, ``model.safetensors``) into ``folder``.

    ``scripted`` (the ``--smoke`` stand-in): the decoder ignores the image and answers
    :data:`SCRIPT` whatever it is asked, in a handful of steps. A random decoder rarely
    emits ``</s>``, so every beam would run to ``max_new_tokens`` (1024 in the workflows:
    minutes on a CPU). The decoder is made a bigram model: attention and feed-forward
    outputs zeroed, so each step's hidden state is the normalised embedding of the token
    before, and the (untied) output row of each next token points along that embedding."""
    from transformers import Florence2ForConditionalGeneration

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    processor = tiny_processor()
    tok = processor.tokenizer
    config = tiny_config(len(tok), tok.convert_tokens_to_ids(IMAGE_TOKEN), bos=tok.bos_token_id,
                         pad=tok.pad_token_id, eos=tok.eos_token_id, tied=not scripted)
    torch.manual_seed(seed)
    model = Florence2ForConditionalGeneration(config).eval()
    with torch.no_grad():  # default init leaves some norms at 1/0 and biases at 0: perturb all
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.02)
        if scripted:
            _script(model, tok)
    model.to(dtype).save_pretrained(folder, safe_serialization=True)
    processor.save_pretrained(folder)
    (folder / "wfrun_tiny.json").write_text(json.dumps({"version": TINY_FLORENCE2_VERSION, "seed": seed,
                                                        "scripted": scripted}) + "\n", encoding="utf-8")
    return folder


def _script(model, tok) -> None:
    """Make the decoder answer :data:`SCRIPT` (see :func:`write_tiny_florence2`)."""
    decoder = model.model.language_model.decoder
    decoder.embed_positions.weight.zero_()
    for layer in decoder.layers:
        for linear in (layer.self_attn.out_proj, layer.encoder_attn.out_proj, layer.fc2):
            linear.weight.zero_()
            linear.bias.zero_()
    for norm in [decoder.layernorm_embedding, *(n for layer in decoder.layers for n in
                                                (layer.self_attn_layer_norm, layer.encoder_attn_layer_norm,
                                                 layer.final_layer_norm))]:
        norm.weight.fill_(1.0)
        norm.bias.zero_()
    chain = [tok.eos_token_id, *tok(SCRIPT, add_special_tokens=False)["input_ids"]]
    steps = list(zip(chain[:-1], chain[1:]))
    width = decoder.embed_tokens.weight.shape[1]
    basis = torch.randn(width, len(steps), generator=torch.Generator().manual_seed(0))
    basis -= basis.mean(dim=0, keepdim=True)  # zero mean: layer norm keeps the direction
    basis = torch.linalg.qr(basis).Q.T * width ** 0.5  # unit variance rows, mutually orthogonal
    language = model.model.language_model
    # untied, transformers 5 keeps separate encoder and decoder embeddings too: set them all
    tables = {id(t): t for t in (language.shared.weight, language.encoder.embed_tokens.weight,
                                 decoder.embed_tokens.weight)}.values()
    head = model.lm_head.weight
    for row, (current, following) in zip(basis, steps):
        for table in tables:
            table[current] = row.to(table.dtype)
        head[following] = (row * 10 / width ** 0.5).to(head.dtype)


