"""Wav2VecModelLoader against the pack's own procedure written out here: transformers'
``Wav2Vec2Model`` of the file's sizes, each parameter set from ``"wav2vec2." + name`` (the
weight-normed positional convolution from ``weight_g``/``weight_v``), the waveform not
normalized; MultiTalk's per-frame features of both must agree."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from node_helpers import node
from wfrun.models.paths import ModelRoots
from wfrun.models.wav2vec2 import TINY, write_tiny
from wfrun.models.wav2vec2_folder import Wav2VecFolderModel, multitalk_features
from wfrun.nodes.executor import ExecContext, NodeInputError


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("models")
    (root / "wav2vec2").mkdir()
    write_tiny(root / "wav2vec2" / "chinese-wav2vec2-base-tiny.safetensors", "base", seed=4, prefix="wav2vec2.")
    write_tiny(root / "wav2vec2" / "wav2vec2-large-tiny.safetensors", "large", seed=5)
    return root


def _pack_procedure(path: Path) -> torch.nn.Module:
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    sd = load_file(str(path))
    config = Wav2Vec2Config(hidden_size=TINY["width"], num_attention_heads=TINY["heads"],
                            num_hidden_layers=TINY["layers"], intermediate_size=TINY["ffn"],
                            conv_dim=(TINY["conv_dim"],) * 7, conv_bias=False, feat_extract_norm="group",
                            do_stable_layer_norm=False, num_conv_pos_embeddings=TINY["pos_kernel"],
                            num_conv_pos_embedding_groups=TINY["pos_groups"], layer_norm_eps=1e-5)
    model = Wav2Vec2Model(config).eval()
    state = {}
    for name, _ in model.named_parameters():
        key = "wav2vec2." + name
        if "original0" in name:
            key = "wav2vec2.encoder.pos_conv_embed.conv.weight_g"
        elif "original1" in name:
            key = "wav2vec2.encoder.pos_conv_embed.conv.weight_v"
        state[name] = sd[key].float()
    model.load_state_dict(state, strict=False)
    return model


def test_loader_matches_the_pack_procedure(models):
    ctx = ExecContext(models=ModelRoots.from_options(models))
    (loaded,) = node("Wav2VecModelLoader")(ctx, model="chinese-wav2vec2-base-tiny.safetensors", base_precision="fp32")
    assert isinstance(loaded, Wav2VecFolderModel) and "tencent" in loaded.repo.lower()
    assert loaded.normalize is False and loaded.dtype == torch.float32
    reference = Wav2VecFolderModel(_pack_procedure(models / "wav2vec2" / "chinese-wav2vec2-base-tiny.safetensors"),
                                   loaded.repo, torch.float32, False, loaded.folder)
    samples = 0.3 * torch.randn(16000, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(multitalk_features(loaded, samples, 25), multitalk_features(reference, samples, 25),
                               rtol=1e-4, atol=1e-5)
    (half,) = node("Wav2VecModelLoader")(ctx, model="chinese-wav2vec2-base-tiny.safetensors", base_precision="bf16")
    assert next(half.model.parameters()).dtype == torch.bfloat16


def test_loader_refuses_the_large_recipe_and_missing_files(models):
    ctx = ExecContext(models=ModelRoots.from_options(models))
    with pytest.raises(NodeInputError) as err:
        node("Wav2VecModelLoader")(ctx, model="wav2vec2-large-tiny.safetensors")
    assert err.value.input_name == "model" and "base" in str(err.value)
    with pytest.raises(NodeInputError):
        node("Wav2VecModelLoader")(ctx, model="absent.safetensors")
