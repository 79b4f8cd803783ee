"""Whisper audio encoders (HuMo's) through ComfyUI's AudioEncoderLoader/AudioEncoderEncode.

References: transformers' own ``WhisperFeatureExtractor`` (numpy STFT and mel filters) for
the log-mel features, and transformers' ``WhisperModel`` built from a config and filled by
its own ``load_state_dict`` (``output_hidden_states``) for the encoder — the path the
wrapper's WhisperModelLoader takes — on a tiny file in the released key layout."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from node_helpers import node
from wfrun.models.header import CheckpointError
from wfrun.models.paths import ModelRoots
from wfrun.models.whisper import TINY, encode, load_whisper, log_mel, spec_of, tiny_state_dict, write_tiny
from wfrun.nodes.executor import ExecContext, NodeInputError


@pytest.fixture(scope="module")
def whisper_file(tmp_path_factory) -> Path:
    return write_tiny(tmp_path_factory.mktemp("whisper") / "audio_encoders" / "whisper_large_v3_tiny.safetensors",
                      seed=3, dtype=torch.float32)


def sound(seconds: float, rate: int = 16000, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * rate)) / rate
    wave = 0.3 * torch.sin(2 * torch.pi * 220 * t) + 0.05 * torch.randn(t.shape, generator=g)
    return wave[None, None].repeat(1, 2, 1)  # [1, 2 channels, samples]


def test_log_mel_matches_transformers_feature_extractor():
    from transformers import WhisperFeatureExtractor

    x = sound(2.5)[0].mean(0)
    want = WhisperFeatureExtractor(feature_size=128)(x.numpy(), sampling_rate=16000, return_tensors="pt").input_features
    got = log_mel(x[None], 128)
    assert got.shape == (1, 128, 3000)
    torch.testing.assert_close(got, want.float(), rtol=1e-4, atol=1e-4)


def test_longer_sound_is_cut_to_30_seconds():
    x = sound(31)[0].mean(0)
    torch.testing.assert_close(log_mel(x[None], 128), log_mel(x[None, :480000], 128))


def test_the_encoder_matches_transformers_whisper_model(whisper_file):
    from transformers import WhisperConfig, WhisperModel

    enc = load_whisper(whisper_file)
    assert (enc.spec.width, enc.spec.heads, enc.spec.layers, enc.spec.mels) == (64, 1, 32, 128)
    config = WhisperConfig(d_model=TINY["width"], encoder_layers=TINY["layers"], encoder_attention_heads=1,
                           encoder_ffn_dim=TINY["ffn"], num_mel_bins=TINY["mels"], max_source_positions=1500,
                           decoder_layers=1, decoder_attention_heads=1, decoder_ffn_dim=8)
    hf = WhisperModel(config).eval()
    stored = {k.removeprefix("model."): v for k, v in load_file(str(whisper_file)).items()}
    missing, _ = hf.load_state_dict(stored, strict=False)
    assert not [k for k in missing if k.startswith("encoder.")]
    wave = sound(1.2, rate=22050)
    out = encode(enc, wave, 22050)
    from wfrun.media.audio import resample

    at16k = resample(wave.float(), 22050, 16000)
    assert out["audio_samples"] == at16k.shape[-1] == 19200  # 1.2 s at 16 kHz
    with torch.no_grad():
        ref = hf.encoder(log_mel(at16k.mean(1), 128), output_hidden_states=True)
    states = out["encoded_audio_all_layers"]
    assert len(states) == 33 == len(ref.hidden_states)
    for mine, theirs in zip(states, ref.hidden_states):
        torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(out["encoded_audio"], ref.last_hidden_state, rtol=1e-4, atol=1e-4)


def test_spec_reads_the_shapes_and_refuses_what_is_not_whisper():
    shapes = {k: tuple(v.shape) for k, v in tiny_state_dict().items()}
    assert spec_of(shapes).layers == 32
    assert spec_of({k.removeprefix("model."): v for k, v in shapes.items()}).width == 64  # no prefix
    with pytest.raises(CheckpointError, match="not a Whisper"):
        spec_of({"encoder.layer_norm.bias": (768,)})
    with pytest.raises(CheckpointError, match="64 wide"):
        spec_of({**shapes, "model.encoder.conv1.weight": (96, 128, 3)})


def test_the_core_nodes_load_and_encode_whisper(tmp_path, whisper_file):
    models = tmp_path / "models"
    (models / "audio_encoders").mkdir(parents=True)
    save_file(load_file(str(whisper_file)), str(models / "audio_encoders" / "whisper_large_v3_fp16.safetensors"))
    ctx = ExecContext(models=ModelRoots.from_options(models), device="cpu", offload_device="cpu")
    (encoder,) = node("AudioEncoderLoader")(ctx, audio_encoder_name="whisper_large_v3_fp16.safetensors")
    (out,) = node("AudioEncoderEncode")(ctx, audio_encoder=encoder, audio={"waveform": sound(0.5), "sample_rate": 16000})
    assert out["encoded_audio"].shape == (1, 1500, 64) and len(out["encoded_audio_all_layers"]) == 33
    assert out["audio_samples"] == 8000
    cut = load_file(str(whisper_file))
    del cut["model.encoder.layers.3.fc2.bias"]
    save_file(cut, str(models / "audio_encoders" / "cut.safetensors"))
    with pytest.raises(NodeInputError) as err:
        node("AudioEncoderLoader")(ctx, audio_encoder_name="cut.safetensors")
    assert err.value.input_name == "audio_encoder_name" and "missing 1 tensors" in str(err.value)
