"""The UMT5 tokenizer: where it is found, how it tokenizes, and what is said when it is missing.

A tiny sentencepiece model is trained here, at test time, with UMT5's special ids (pad 0,
eos 1, unk 2, no bos), so the real loading path runs offline.
"""

from __future__ import annotations

import io
import random
import shutil
from pathlib import Path

import pytest
import torch
from test_models_support import tiny_models_root

from wfrun.models.paths import ModelRoots
from wfrun.models.tokenizer import (
    SentencePieceTokenizer,
    TokenizerError,
    find_umt5_tokenizer,
    load_umt5_tokenizer,
    tokenizer_from,
)

WORDS = ("a cat dog walks runs on the beach under blue sky slowly camera pans zooms cinematic light "
         "night rain city street river mountain bird flies over with and of in").split()
TEXTS = ["a cat walks on the beach", "camera slowly pans over the city at night, rain",
         "zebra", "A DOG runs", ""]


def train_spiece(vocab_size: int = 60) -> bytes:
    import sentencepiece as spm

    rng = random.Random(3)
    words = list(WORDS)
    if vocab_size > 60:  # more distinct words, so that the trainer can fill a larger vocabulary
        words += ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 7)))
                  for _ in range(vocab_size * 2)]
    lines = [" ".join(rng.choice(words) for _ in range(8)) for _ in range(40 * len(words) // 8)]
    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=buffer, vocab_size=vocab_size,
                                   model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1, num_threads=1,
                                   hard_vocab_limit=False, minloglevel=2)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def spiece() -> bytes:
    return train_spiece()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_models_root(tmp_path_factory)


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No real HF cache, ComfyUI or download permission leaks into a test."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hf-cache"))
    monkeypatch.delenv("WFRUN_COMFYUI", raising=False)
    monkeypatch.delenv("WFRUN_ALLOW_DOWNLOAD", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("WFRUN_MODELS", raising=False)


def encoder_copy(tiny: Path, folder: Path, name: str = "umt5-xxl-enc-bf16.safetensors") -> Path:
    """Kijai's UMT5 file (which carries no tokenizer) copied into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(tiny / "text_encoders" / "umt5-xxl-enc-tiny-bf16.safetensors", folder / name))


def put(folder: Path, spiece: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "spiece.model").write_bytes(spiece)
    return folder / "spiece.model"


# --- where it is found ------------------------------------------------------------------------


def test_beside_the_text_encoder(tiny, tmp_path, spiece):
    encoder = encoder_copy(tiny, tmp_path / "models" / "text_encoders")
    wanted = put(tmp_path / "models" / "text_encoders", spiece)
    assert find_umt5_tokenizer(encoder).path == wanted


@pytest.mark.parametrize("sub", ["umt5-xxl", "google/umt5-xxl", "tokenizer", "T5_tokenizer"])
def test_in_a_sub_folder_beside_the_text_encoder(tiny, tmp_path, spiece, sub):
    encoder = encoder_copy(tiny, tmp_path / "te")
    wanted = put(tmp_path / "te" / sub, spiece)
    assert find_umt5_tokenizer(encoder).path == wanted


def test_in_the_models_folder(tiny, tmp_path, spiece):
    encoder = encoder_copy(tiny, tmp_path / "elsewhere")
    wanted = put(tmp_path / "models" / "text_encoders" / "umt5-xxl", spiece)
    roots = ModelRoots.from_options(tmp_path / "models")
    assert find_umt5_tokenizer(encoder, roots=roots).path == wanted
    # the legacy clip/ folder is a text encoders folder too
    shutil.rmtree(tmp_path / "models" / "text_encoders")
    wanted = put(tmp_path / "models" / "clip" / "umt5-xxl", spiece)
    assert find_umt5_tokenizer(encoder, roots=roots).path == wanted


def wrapper_install(comfy: Path, spiece: bytes) -> Path:
    return put(comfy / "custom_nodes" / "ComfyUI-WanVideoWrapper" / "configs" / "T5_tokenizer", spiece)


def test_in_a_comfyui_install_the_user_points_at(tiny, tmp_path, spiece, monkeypatch):
    encoder = encoder_copy(tiny, tmp_path / "elsewhere")
    wanted = wrapper_install(tmp_path / "ComfyUI", spiece)
    assert find_umt5_tokenizer(encoder, comfyui_dir=tmp_path / "ComfyUI").path == wanted
    assert find_umt5_tokenizer(encoder, wrapper_dir=wanted.parents[2]).path == wanted
    with pytest.raises(TokenizerError):
        find_umt5_tokenizer(encoder)
    monkeypatch.setenv("WFRUN_COMFYUI", str(tmp_path / "ComfyUI"))
    assert find_umt5_tokenizer(encoder).path == wanted


def test_in_the_comfyui_install_around_the_models_folder(tiny, tmp_path, spiece):
    comfy = tmp_path / "ComfyUI"
    encoder = encoder_copy(tiny, comfy / "models" / "text_encoders")
    wanted = wrapper_install(comfy, spiece)
    assert find_umt5_tokenizer(encoder, roots=ModelRoots.from_options(comfy / "models")).path == wanted


def test_custom_nodes_folder_from_extra_model_paths(tiny, tmp_path, spiece):
    encoder = encoder_copy(tiny, tmp_path / "te")
    wanted = wrapper_install(tmp_path / "shared", spiece)
    yaml_file = tmp_path / "extra_model_paths.yaml"
    yaml_file.write_text(f"s:\n  base_path: {tmp_path / 'shared'}\n  custom_nodes: custom_nodes\n")
    roots = ModelRoots.from_options(extra_paths_yaml=yaml_file)
    assert find_umt5_tokenizer(encoder, roots=roots).path == wanted


def test_in_the_hugging_face_cache(tiny, tmp_path, spiece, monkeypatch):
    encoder = encoder_copy(tiny, tmp_path / "te")
    hub = tmp_path / "hub"
    wanted = put(hub / "models--google--umt5-xxl" / "snapshots" / "0123abcd", spiece)
    assert find_umt5_tokenizer(encoder, hf_cache=hub).path == wanted
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    assert find_umt5_tokenizer(encoder).path == wanted
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    assert find_umt5_tokenizer(encoder).path == wanted


def test_the_tokenizer_of_a_wan_diffusers_repo_in_the_cache(tiny, tmp_path, spiece):
    encoder = encoder_copy(tiny, tmp_path / "te")
    hub = tmp_path / "hub"
    wanted = put(hub / "models--Wan-AI--Wan2.1-T2V-1.3B-Diffusers" / "snapshots" / "feed" / "tokenizer", spiece)
    assert find_umt5_tokenizer(encoder, hf_cache=hub).path == wanted


def test_embedded_in_comfyuis_file_comes_first(tiny, tmp_path, spiece):
    folder = tmp_path / "text_encoders"
    folder.mkdir()
    encoder = Path(shutil.copy(tiny / "text_encoders" / "umt5_xxl_tiny_fp16.safetensors", folder))
    put(folder, spiece)
    source = find_umt5_tokenizer(encoder)
    assert source.kind == "embedded" and source.path == encoder


def test_search_order(tiny, tmp_path, spiece):
    comfy = tmp_path / "ComfyUI"
    encoder = encoder_copy(tiny, tmp_path / "te")
    roots = ModelRoots.from_options(comfy / "models")
    hub = tmp_path / "hub"
    places = [put(tmp_path / "te" / "umt5-xxl", spiece), put(comfy / "models" / "text_encoders" / "umt5-xxl", spiece),
              wrapper_install(comfy, spiece), put(hub / "models--google--umt5-xxl" / "snapshots" / "1", spiece)]
    for wanted in places:
        assert find_umt5_tokenizer(encoder, roots=roots, hf_cache=hub).path == wanted
        wanted.unlink()


def test_tokenizer_json_is_preferred_in_a_folder(tiny, tmp_path):
    from wfrun.models.tiny import write_tokenizer

    encoder = encoder_copy(tiny, tmp_path / "te")
    write_tokenizer(tmp_path / "te" / "umt5-xxl")
    source = find_umt5_tokenizer(encoder)
    assert source.kind == "tokenizer.json"
    from transformers import PreTrainedTokenizerFast

    assert isinstance(tokenizer_from(source), PreTrainedTokenizerFast)


# --- missing ------------------------------------------------------------------------------------


def test_missing_says_where_to_put_it(tiny, tmp_path):
    encoder = encoder_copy(tiny, tmp_path / "models" / "text_encoders")
    roots = ModelRoots.from_options(tmp_path / "models")
    with pytest.raises(TokenizerError) as err:
        load_umt5_tokenizer(encoder, roots=roots)
    message = str(err.value)
    assert "\n" not in message and str(encoder) in message
    assert f"{tmp_path / 'models' / 'text_encoders'}/umt5-xxl/" in message
    assert "spiece.model" in message and "tokenizer.json" in message and "configs/T5_tokenizer" in message
    assert "WFRUN_ALLOW_DOWNLOAD=1" in message


def test_fetched_only_where_allowed(tiny, tmp_path, spiece, monkeypatch):
    import huggingface_hub

    calls = []

    def fake_download(repo_id, filename, cache_dir=None, **_):
        calls.append((repo_id, filename))
        if filename == "tokenizer.json":
            raise huggingface_hub.errors.EntryNotFoundError("no tokenizer.json here")
        return str(put(tmp_path / "fetched", spiece))

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    encoder = encoder_copy(tiny, tmp_path / "te")
    with pytest.raises(TokenizerError):
        find_umt5_tokenizer(encoder)
    assert calls == []
    source = find_umt5_tokenizer(encoder, download=True)
    assert source.path == tmp_path / "fetched" / "spiece.model"
    assert calls == [("google/umt5-xxl", "tokenizer.json"), ("google/umt5-xxl", "spiece.model")]
    monkeypatch.setenv("WFRUN_ALLOW_DOWNLOAD", "1")
    assert find_umt5_tokenizer(encoder).kind == "spiece.model"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    calls.clear()
    with pytest.raises(TokenizerError):
        find_umt5_tokenizer(encoder, download=True)
    assert calls == []


def test_a_failed_fetch_is_reported(tiny, tmp_path, monkeypatch):
    import huggingface_hub

    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", offline)
    encoder = encoder_copy(tiny, tmp_path / "te")
    with pytest.raises(TokenizerError, match="could not fetch the UMT5 tokenizer from google/umt5-xxl"):
        find_umt5_tokenizer(encoder, download=True)


def test_a_tokenizer_too_large_for_the_encoder_is_refused(tiny, tmp_path):
    encoder = encoder_copy(tiny, tmp_path / "te")  # 128 embeddings
    put(tmp_path / "te", train_spiece(200))
    with pytest.raises(TokenizerError, match=r"tokenizer has \d{3} tokens but the text encoder only 128"):
        load_umt5_tokenizer(encoder)


def test_a_broken_spiece_model_is_named(tiny, tmp_path):
    encoder = encoder_copy(tiny, tmp_path / "te")
    put(tmp_path / "te", b"not a sentencepiece model")
    with pytest.raises(TokenizerError, match="spiece.model: not a sentencepiece model"):
        load_umt5_tokenizer(encoder)


# --- how it tokenizes -------------------------------------------------------------------------


def test_sentencepiece_tokenizer_matches_sentencepiece(spiece):
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_proto=spiece)
    tokenizer = SentencePieceTokenizer(spiece)
    assert len(tokenizer) == sp.get_piece_size()
    for text in TEXTS:
        assert tokenizer.encode(text) == sp.encode(text) + [1]
        assert tokenizer(text)["input_ids"] == sp.encode(text) + [1]
    assert tokenizer.decode(tokenizer.encode(TEXTS[0])) == TEXTS[0]


def test_padding_and_truncation_like_wan(spiece):
    """Wan pads to the text length with pad id 0 and keeps eos when truncating."""
    tokenizer = SentencePieceTokenizer(spiece)
    batch = tokenizer(TEXTS[:2], padding="max_length", max_length=6, truncation=True, return_tensors="pt")
    ids, mask = batch["input_ids"], batch["attention_mask"]
    assert ids.shape == mask.shape == (2, 6) and ids.dtype == torch.long
    for row, text in enumerate(TEXTS[:2]):
        full = tokenizer.encode(text)  # ends with eos (1)
        expected = full[:5] + [1] if len(full) > 6 else full + [0] * (6 - len(full))
        assert ids[row].tolist() == expected
        assert mask[row].tolist() == [1] * min(len(full), 6) + [0] * (6 - min(len(full), 6))
    assert len(tokenizer.encode(TEXTS[1])) > 6  # the second text was truncated, and kept its eos
    longest = tokenizer(TEXTS[:3], padding="longest", return_tensors="pt")["input_ids"]
    assert longest.shape[1] == max(len(tokenizer.encode(t)) for t in TEXTS[:3])


def test_tokenizer_json_and_spiece_model_agree(tmp_path):
    """The tiny tokenizer.json wfrun writes tokenizes as its spiece.model does."""
    from wfrun.models.tiny import write_tokenizer
    from wfrun.models.tokenizer import TokenizerSource

    folder = write_tokenizer(tmp_path / "tok")
    fast = tokenizer_from(TokenizerSource("tokenizer.json", folder / "tokenizer.json"))
    slow = tokenizer_from(TokenizerSource("spiece.model", folder / "spiece.model"))
    for text in TEXTS + ["a red fox jumps over the river at dawn"]:
        assert fast(text)["input_ids"] == slow(text)["input_ids"], text


def test_tokenizer_and_encoder_together(tiny, tmp_path, spiece):
    """The path a workflow takes: find the tokenizer for the encoder file, tokenize, encode."""
    from wfrun.models.load import load_text_encoder

    encoder_path = encoder_copy(tiny, tmp_path / "te")
    put(tmp_path / "te", spiece)
    tokenizer = load_umt5_tokenizer(encoder_path)
    encoder = load_text_encoder(encoder_path, dtype="fp32")
    batch = tokenizer(TEXTS[:2], padding="max_length", max_length=12, truncation=True, return_tensors="pt")
    with torch.no_grad():
        out = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    assert out.shape == (2, 12, 32) and torch.isfinite(out).all()
    # the same ids straight from sentencepiece give the same embeddings
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_proto=spiece)
    ids = sp.encode(TEXTS[0]) + [1]
    with torch.no_grad():
        alone = encoder(input_ids=torch.tensor([ids])).last_hidden_state
    torch.testing.assert_close(out[0, : len(ids)], alone[0], rtol=1e-5, atol=1e-5)
