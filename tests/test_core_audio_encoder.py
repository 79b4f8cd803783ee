"""AudioEncoderLoader + AudioEncoderEncode (wav2vec 2.0) against independent references.

* Resampling: the band-limited interpolation torchaudio defines (a Hann-windowed sinc,
  cut-off at 0.99 of the lower rate, 6 zero crossings each side), evaluated here sample by
  sample in float64 from its formula, not through a convolution.
* The encoder: transformers' ``Wav2Vec2Model`` built here from the recipe ComfyUI states for
  each width (eager attention), loaded with the tiny file's tensors through torch's own
  weight-norm loading (``weight_g``/``weight_v``), fed the channel mean of the 16 kHz audio,
  normalized as ComfyUI's large recipe says.
* ComfyUI's rules for what loads: 768 wide is base, 1024 large, others refused (Whisper: test_whisper).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from node_helpers import node
from wfrun.media.audio import resample
from wfrun.models.header import CheckpointError
from wfrun.models.paths import ModelRoots
from wfrun.models.wav2vec2 import AudioEncoder, spec_of, tiny_state_dict, write_tiny
from wfrun.nodes.executor import ExecContext, NodeInputError


# ---------------------------------------------------------------------------- resampling

def sinc_resample_reference(x: np.ndarray, orig: int, new: int, width: int = 6, rolloff: float = 0.99) -> np.ndarray:
    """y[j] = sum_i x[i] * h(i/o - j/n) with h(t) = sinc(c t) cos^2(pi c t / 2w) c / o, |c t| <= w,
    o and n the rates over their gcd and c = min(o, n) * rolloff; ceil(n len / o) samples."""
    g = math.gcd(orig, new)
    o, n = orig // g, new // g
    c = min(o, n) * rolloff
    length = len(x)
    out = np.zeros(math.ceil(n * length / o))
    reach = width * o / c
    for j in range(len(out)):
        centre = j * o / n
        lo, hi = max(0, math.floor(centre - reach)), min(length - 1, math.ceil(centre + reach))
        i = np.arange(lo, hi + 1)
        t = c * (i / o - j / n)
        inside = np.abs(t) <= width
        h = np.sinc(t) * np.cos(np.pi * t / (2 * width)) ** 2 * c / o
        out[j] = np.sum(x[i][inside] * h[inside])
    return out


@pytest.mark.parametrize("orig, new", [(44100, 16000), (22050, 16000), (8000, 16000), (48000, 16000), (16000, 24000)])
def test_resample_matches_the_windowed_sinc_formula(orig, new):
    rng = np.random.default_rng(orig)
    x = rng.standard_normal(orig // 20)  # 50 ms of noise
    expected = sinc_resample_reference(x, orig, new)
    got = resample(torch.from_numpy(x).float().view(1, 1, -1), orig, new)
    assert got.shape == (1, 1, len(expected))
    # the filter is designed in float32, as torchaudio designs it for float32 audio
    assert np.abs(got[0, 0].double().numpy() - expected).max() < 1e-4
    got64 = resample(torch.from_numpy(x).view(1, -1), orig, new)  # float64 in, float64 filter
    assert np.abs(got64[0].numpy() - expected).max() < 1e-9


def test_resample_keeps_a_tone_and_leaves_equal_rates_alone():
    t = torch.arange(44100) / 44100
    x = torch.sin(2 * torch.pi * 440 * t).view(1, 1, -1)
    y = resample(x, 44100, 16000)[0, 0]
    assert y.shape == (16000,)
    spectrum = np.abs(np.fft.rfft(y.numpy()))
    assert spectrum.argmax() == 440
    # a tone above the new Nyquist rate is filtered out
    high = resample(torch.sin(2 * torch.pi * 10000 * t).view(1, 1, -1), 44100, 16000)[0, 0]
    assert high[200:-200].abs().max() < 0.02
    assert resample(x, 16000, 16000) is x


# ---------------------------------------------------------------------------- the encoder

def reference_model(state: dict[str, torch.Tensor], large: bool):
    """transformers' Wav2Vec2Model of the tiny widths and ComfyUI's recipe, eager attention."""
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    config = Wav2Vec2Config(
        hidden_size=32, num_attention_heads=2, num_hidden_layers=2, intermediate_size=64, conv_dim=(16,) * 7,
        conv_kernel=(10, 3, 3, 3, 3, 2, 2), conv_stride=(5, 2, 2, 2, 2, 2, 2),
        feat_extract_norm="layer" if large else "group", conv_bias=large, do_stable_layer_norm=large,
        num_conv_pos_embeddings=128, num_conv_pos_embedding_groups=16, attn_implementation="eager")
    model = Wav2Vec2Model(config).eval()
    plain = {k.removeprefix("wav2vec2."): v.float() for k, v in state.items()}
    missing, unexpected = model.load_state_dict(plain, strict=False)  # torch converts weight_g/weight_v
    assert not missing and not unexpected, (missing, unexpected)
    return model


@pytest.fixture
def models(tmp_path):
    folder = tmp_path / "models" / "audio_encoders"
    write_tiny(folder / "chinese-wav2vec2-base_tiny.safetensors", "base", seed=1, prefix="wav2vec2.")
    write_tiny(folder / "wav2vec2_large_tiny_fp32.safetensors", "large", seed=2, dtype=torch.float32)
    return tmp_path / "models"


@pytest.fixture
def ctx(models):
    return ExecContext(models=ModelRoots.from_options(str(models)), device="cpu", offload_device="cpu")


@pytest.mark.parametrize("name, large", [("chinese-wav2vec2-base_tiny.safetensors", False),
                                         ("wav2vec2_large_tiny_fp32.safetensors", True)])
def test_encode_matches_transformers_from_the_same_weights(ctx, models, name, large):
    (encoder,) = node("AudioEncoderLoader")(ctx, audio_encoder_name=name)
    assert isinstance(encoder, AudioEncoder) and encoder.spec.normalize == large
    rate = 22050
    gen = torch.Generator().manual_seed(3)
    waveform = 0.3 * torch.randn(2, 2, rate // 2, generator=gen)  # a batch of two stereo clips, 0.5 s
    (out,) = node("AudioEncoderEncode")(ctx, audio_encoder=encoder, audio={"waveform": waveform, "sample_rate": rate})

    state = load_file(str(models / "audio_encoders" / name))
    reference = reference_model(state, large)
    at16k = torch.from_numpy(np.stack([[sinc_resample_reference(c.double().numpy(), rate, 16000) for c in clip]
                                       for clip in waveform])).float()
    x = at16k.mean(dim=1)
    if large:  # ComfyUI's normalization: over the whole batch, unbiased variance
        x = (x - x.mean()) / torch.sqrt(x.var() + 1e-7)
    with torch.no_grad():
        last = reference(x).last_hidden_state
        # ComfyUI's list, from the reference's parts: each layer's input, then the output
        h, _ = reference.feature_projection(reference.feature_extractor(x).transpose(1, 2))
        h = h + reference.encoder.pos_conv_embed(h)
        if not large:
            h = reference.encoder.layer_norm(h)
        states = []
        for layer in reference.encoder.layers:
            states.append(h)
            h = layer(h)
            h = h[0] if isinstance(h, tuple) else h
        states.append(reference.encoder.layer_norm(h) if large else h)
    torch.testing.assert_close(states[-1], last)
    assert out["audio_samples"] == 8000
    assert out["encoded_audio"].shape == (2, 24, 32)  # 50 frames a second, less the stack's edges
    assert len(out["encoded_audio_all_layers"]) == 3  # input to each of 2 layers, and the output
    torch.testing.assert_close(out["encoded_audio"], last, atol=2e-4, rtol=1e-4)
    for got, want in zip(out["encoded_audio_all_layers"], states, strict=True):
        torch.testing.assert_close(got, want, atol=2e-4, rtol=1e-4)
    assert torch.equal(out["encoded_audio_all_layers"][-1], out["encoded_audio"])


def test_parametrized_weight_norm_names_and_extra_keys_load_alike(tmp_path):
    """A file saved by newer torch (parametrizations) with a pre-training head's extra keys
    loads to the same encoder as the weight_g/weight_v file."""
    from wfrun.models.wav2vec2 import load_wav2vec2

    state = tiny_state_dict("base", seed=4)
    old = tmp_path / "old.safetensors"
    save_file(state, str(old), metadata={"wfrun.num_heads": "2"})
    new_state = {k.replace("conv.weight_g", "conv.parametrizations.weight.original0")
                  .replace("conv.weight_v", "conv.parametrizations.weight.original1"): v for k, v in state.items()}
    new_state = {f"wav2vec2.{k}": v for k, v in new_state.items()}
    new_state["quantizer.codevectors"] = torch.zeros(1, 4, 8)
    new_state["project_q.weight"] = torch.zeros(4, 4)
    new = tmp_path / "new.safetensors"
    save_file(new_state, str(new), metadata={"wfrun.num_heads": "2"})
    a, b = load_wav2vec2(old).model.state_dict(), load_wav2vec2(new).model.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def shapes(width: int, layers: int, conv_norm: str = "group") -> dict[str, tuple[int, ...]]:
    out = {"encoder.layer_norm.bias": (width,), "feature_extractor.conv_layers.0.conv.weight": (512, 1, 10),
           "encoder.layers.0.feed_forward.intermediate_dense.weight": (4 * width, width),
           "encoder.pos_conv_embed.conv.weight_v": (width, width // 16, 128)}
    out.update({f"encoder.layers.{i}.attention.q_proj.weight": (width, width) for i in range(layers)})
    if conv_norm == "layer":
        out["feature_extractor.conv_layers.1.layer_norm.weight"] = (512,)
    return out


def test_comfyuis_recipes_by_width():
    base = spec_of(shapes(768, 12))
    assert (base.heads, base.layers, base.conv_norm, base.conv_bias, base.stable, base.normalize) == \
        (12, 12, "group", False, False, False)
    assert (base.ffn, base.conv_dim, base.pos_kernel, base.pos_groups) == (3072, 512, 128, 16)
    large = spec_of({f"wav2vec2.{k}": v for k, v in shapes(1024, 24, "layer").items()})
    assert (large.heads, large.layers, large.conv_norm, large.conv_bias, large.stable, large.normalize) == \
        (16, 24, "layer", True, True, True)


@pytest.mark.parametrize("found, words", [
    (shapes(512, 8), "768-wide base and 1024-wide large"),
    (shapes(768, 10), "ComfyUI builds 12 layers"),
    (shapes(1024, 24, "group"), "layer-normed stack"),
    ({"model.encoder.embed_positions.weight": (1500, 1280)}, "Whisper"),
    ({"blocks.0.self_attn.q.weight": (8, 8)}, "not an audio encoder"),
])
def test_files_comfyui_would_not_load_are_refused(found, words):
    with pytest.raises(CheckpointError, match=words):
        spec_of(found)


def test_loader_and_encoder_refusals_name_their_input(ctx, models):
    with pytest.raises(NodeInputError) as err:
        node("AudioEncoderLoader")(ctx, audio_encoder_name="missing.safetensors")
    assert err.value.input_name == "audio_encoder_name"
    save_file({"model.encoder.embed_positions.weight": torch.zeros(4, 4)},
              str(models / "audio_encoders" / "whisper_tiny.safetensors"))
    with pytest.raises(NodeInputError) as err:
        node("AudioEncoderLoader")(ctx, audio_encoder_name="whisper_tiny.safetensors")
    assert err.value.input_name == "audio_encoder_name" and "Whisper" in str(err.value)
    state = tiny_state_dict("base")
    del state["encoder.layers.1.final_layer_norm.bias"]
    save_file(state, str(models / "audio_encoders" / "cut.safetensors"), metadata={"wfrun.num_heads": "2"})
    with pytest.raises(NodeInputError) as err:
        node("AudioEncoderLoader")(ctx, audio_encoder_name="cut.safetensors")
    assert "missing 1 tensors" in str(err.value)

    (encoder,) = node("AudioEncoderLoader")(ctx, audio_encoder_name="chinese-wav2vec2-base_tiny.safetensors")
    encode = node("AudioEncoderEncode")
    for audio in ({"waveform": torch.zeros(2, 100)}, {"waveform": torch.zeros(1, 1, 100), "sample_rate": 0},
                  "voice.wav"):
        with pytest.raises(NodeInputError) as err:
            encode(ctx, audio_encoder=encoder, audio=audio)
        assert err.value.input_name == "audio"
    with pytest.raises(NodeInputError) as err:
        encode(ctx, audio_encoder=encoder, audio={"waveform": torch.zeros(1, 1, 300), "sample_rate": 16000})
    assert err.value.input_name == "audio" and "at least 400" in str(err.value)
    with pytest.raises(NodeInputError) as err:
        encode(ctx, audio_encoder="wav2vec", audio={"waveform": torch.zeros(1, 1, 800), "sample_rate": 16000})
    assert err.value.input_name == "audio_encoder"


def test_tiny_stand_ins_follow_the_name():
    from wfrun.models.standins import family_for

    base = family_for("AudioEncoderLoader", "audio_encoder_name", "audio_encoders", "chinese-wav2vec2-base.safetensors")
    large = family_for("AudioEncoderLoader", "audio_encoder_name", "audio_encoders",
                       "wav2vec_xlsr_53_english_fp32.safetensors")
    assert (base.family.kind, base.family.task, base.family.precision) == ("wav2vec2", "base", "fp16")
    assert (large.family.task, large.family.precision) == ("large", "fp32")
    whisper = family_for("AudioEncoderLoader", "audio_encoder_name", "audio_encoders",
                         "whisper_large_v3_encoder_fp16.safetensors")
    assert (whisper.family.kind, whisper.family.precision) == ("whisper", "fp16")
