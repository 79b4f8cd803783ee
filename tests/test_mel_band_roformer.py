"""Mel-Band RoFormer (kijai's ComfyUI-MelBandRoFormer): the mel band layout against hand
computations and the released model's known band widths, the network against a reference
written from the formulas, the sampler's chunked overlap-add, the nodes and the stand-in."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from node_helpers import node
from wfrun.models.header import CheckpointError
from wfrun.models.mel_band_roformer import MelBandConfig, MelBandRoformer, load_mel_band_roformer, separate, write_tiny
from wfrun.models.mel_band_roformer.filterbank import band_membership, hz_to_mel, mel_filterbank, mel_to_hz
from wfrun.models.mel_band_roformer.load import TINY, config_of, tiny_state_dict
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext, NodeInputError

# ---------------------------------------------------------------------------- mel bands


def test_slaney_mel_scale_is_linear_below_1khz_and_logarithmic_above():
    # 3 mels per 200 Hz up to 1 kHz (15 mels); above, 27 mels per factor 6.4
    np.testing.assert_allclose(hz_to_mel([0.0, 200.0, 1000.0, 6400.0]), [0.0, 3.0, 15.0, 42.0])
    np.testing.assert_allclose(mel_to_hz([3.0, 15.0, 42.0, 69.0]), [200.0, 1000.0, 6400.0, 40960.0])


def test_filterbank_of_a_hand_worked_case():
    """sr 1600, n_fft 8, 2 filters: below 1 kHz the edges are evenly spaced in Hz (0, 266.7,
    533.3, 800); the bins sit at 0, 200, 400, 600, 800 Hz; each triangle is scaled by
    2 / (its width in Hz) = 2 / 533.3 = 0.00375."""
    w = mel_filterbank(1600, 8, 2)
    assert w.dtype == np.float32 and w.shape == (2, 5)
    scale = 2 / (1600 / 3)
    np.testing.assert_allclose(w, [[0, 0.75 * scale, 0.5 * scale, 0, 0],
                                   [0, 0, 0.5 * scale, 0.75 * scale, 0]], rtol=1e-6)
    member = band_membership(1600, 8, 2)  # DC forced into the first band, Nyquist into the last
    assert member.tolist() == [[True, True, True, False, False], [False, False, True, True, True]]


#: (first bin, bin count) of each of the 60 bands of the released vocal model, as dumped from
#: librosa by an independent port (they fix the width of every band's input layer).
RELEASED_BANDS = [
    (0, 7), (4, 6), (7, 6), (10, 6), (13, 6), (16, 6), (19, 6), (22, 6), (25, 6), (28, 6), (31, 6), (34, 6),
    (37, 6), (40, 6), (43, 6), (46, 7), (49, 7), (53, 7), (56, 9), (60, 9), (65, 9), (69, 10), (74, 10),
    (79, 11), (84, 13), (90, 13), (97, 13), (103, 15), (110, 16), (118, 17), (126, 19), (135, 20), (145, 20),
    (155, 22), (165, 24), (177, 26), (189, 28), (203, 29), (217, 31), (232, 33), (248, 36), (265, 39),
    (284, 41), (304, 44), (325, 47), (348, 50), (372, 54), (398, 57), (426, 61), (455, 66), (487, 71),
    (521, 76), (558, 80), (597, 86), (638, 93), (683, 99), (731, 105), (782, 113), (836, 122), (895, 130)]


def test_the_released_models_band_layout():
    member = band_membership(44100, 2048, 60)
    bands = []
    for row in member:
        bins = row.nonzero().flatten().tolist()
        assert bins == list(range(bins[0], bins[-1] + 1))  # contiguous
        bands.append((bins[0], len(bins)))
    assert bands == RELEASED_BANDS
    model = MelBandRoformer(MelBandConfig(dim=4, depth=1, heads=1, dim_head=4, mask_expansion=1))
    assert sum(model.band_inputs) == 7916  # bins x 2 channels x (real, imaginary)
    assert model.band_split.to_features[59][1].weight.shape == (4, 130 * 4)


# ---------------------------------------------------------------------------- the network


def rms(x, gamma):
    return x / x.norm(dim=-1, keepdim=True).clamp(min=1e-12) * math.sqrt(x.shape[-1]) * gamma


def rotate(x, freqs):
    """Pairs (x[2i], x[2i+1]) as complex numbers turned by position * freqs[i]."""
    z = torch.complex(x[..., 0::2].double(), x[..., 1::2].double())
    pos = torch.arange(x.shape[-2], dtype=torch.float64)[:, None]
    z = z * torch.polar(torch.ones_like(pos * freqs.double()), pos * freqs.double())
    return torch.stack([z.real, z.imag], dim=-1).flatten(-2).float()


def ref_transformer(x, sd, prefix, depth, heads):
    """``x`` [tokens, dim] through one of the model's transformers, from its formulas."""
    for j in range(depth):
        p = f"{prefix}.layers.{j}."
        xn = rms(x, sd[p + "0.norm.gamma"])
        qkv = xn @ sd[p + "0.to_qkv.weight"].T
        inner = qkv.shape[-1] // 3
        q, k, v = (qkv[:, i * inner:(i + 1) * inner].view(len(x), heads, -1).transpose(0, 1) for i in range(3))
        freqs = sd[p + "0.rotary_embed.freqs"]
        q, k = rotate(q, freqs), rotate(k, freqs)
        att = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(q.shape[-1]), dim=-1) @ v  # [h, n, d]
        gates = torch.sigmoid(xn @ sd[p + "0.to_gates.weight"].T + sd[p + "0.to_gates.bias"])  # [n, h]
        att = (att * gates.T[..., None]).transpose(0, 1).reshape(len(x), inner)
        x = att @ sd[p + "0.to_out.0.weight"].T + x
        h = rms(x, sd[p + "1.net.0.gamma"]) @ sd[p + "1.net.1.weight"].T + sd[p + "1.net.1.bias"]
        h = 0.5 * h * (1 + torch.erf(h / math.sqrt(2)))
        x = h @ sd[p + "1.net.4.weight"].T + sd[p + "1.net.4.bias"] + x
    return rms(x, sd[f"{prefix}.norm.gamma"])


def reference_forward(sd, cfg, audio):
    """``audio`` [2, samples] -> [2, samples'], one band, frame, bin and channel at a time."""
    member = band_membership(cfg.sample_rate, cfg.n_fft, cfg.num_bands)
    window = torch.hann_window(cfg.win_length)
    specs = [torch.stft(audio[c], cfg.n_fft, cfg.hop_length, cfg.win_length, window, return_complex=True)
             for c in range(2)]
    frames = specs[0].shape[1]
    tokens = torch.zeros(frames, cfg.num_bands, cfg.dim)
    band_bins = [row.nonzero().flatten().tolist() for row in member]
    for b, bins in enumerate(band_bins):
        feats = torch.stack([part for f in bins for c in range(2) for part in (specs[c][f].real, specs[c][f].imag)], 1)
        p = f"band_split.to_features.{b}."
        tokens[:, b] = rms(feats, sd[p + "0.gamma"]) @ sd[p + "1.weight"].T + sd[p + "1.bias"]
    for layer in range(cfg.depth):
        for b in range(cfg.num_bands):
            tokens[:, b] = ref_transformer(tokens[:, b], sd, f"layers.{layer}.0", cfg.time_depth, cfg.heads)
        for t in range(frames):
            tokens[t] = ref_transformer(tokens[t], sd, f"layers.{layer}.1", cfg.freq_depth, cfg.heads)
    total = [torch.zeros_like(s) for s in specs]
    count = torch.zeros(specs[0].shape[0])
    for b, bins in enumerate(band_bins):
        p = f"mask_estimators.0.to_freqs.{b}.0."
        h = tokens[:, b]
        for i in range(cfg.mask_depth):
            h = torch.tanh(h @ sd[p + f"{2 * i}.weight"].T + sd[p + f"{2 * i}.bias"])
        out = h @ sd[p + f"{2 * cfg.mask_depth}.weight"].T + sd[p + f"{2 * cfg.mask_depth}.bias"]
        value, gate = out.chunk(2, dim=-1)
        mask = value * torch.sigmoid(gate)
        j = 0
        for f in bins:
            count[f] += 1
            for c in range(2):
                total[c][f] += torch.complex(mask[:, j], mask[:, j + 1])
                j += 2
    return torch.stack([torch.istft(specs[c] * total[c] / count[:, None], cfg.n_fft, cfg.hop_length,
                                    cfg.win_length, window) for c in range(2)])


def test_forward_matches_the_formulas_on_tiny_random_weights():
    cfg = MelBandConfig(dim=8, depth=2, heads=2, dim_head=4, time_depth=1, freq_depth=2, mask_depth=2,
                        mask_expansion=2)
    sd = tiny_state_dict(cfg, seed=3)
    model = MelBandRoformer(cfg)
    model.load_state_dict(sd, strict=True)
    audio = torch.randn(2, 441 * 6, generator=torch.Generator().manual_seed(1)) * 0.3
    with torch.no_grad():
        got = model(audio[None])[0]
    want = reference_forward(sd, cfg, audio)
    assert got.shape == want.shape == (2, 441 * 6)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    assert got.abs().max() > 1e-3  # not a vanished signal


def identity_mask_model(cfg: MelBandConfig = TINY) -> MelBandRoformer:
    """A model whose mask estimators put out 1 + 0i for every bin: the last layer's weights
    zero, the GLU values' biases (1, 0) per (real, imaginary) and its gates' biases large."""
    model = MelBandRoformer(cfg).eval()
    with torch.no_grad():
        for seq in model.mask_estimators[0].to_freqs:
            last = seq[0][-1]
            half = last.out_features // 2
            last.weight.zero_()
            last.bias[:half] = torch.tensor([1.0, 0.0]).repeat(half // 2)
            last.bias[half:] = 60.0
    return model


def test_an_identity_mask_gives_back_the_input_up_to_the_stft_round_trip():
    audio = torch.randn(1, 2, 441 * 20, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        out = identity_mask_model()(audio)
    torch.testing.assert_close(out, audio, atol=2e-5, rtol=1e-4)


# ---------------------------------------------------------------------------- loading


def test_tiny_file_loads_with_its_shape_read_from_the_keys(tmp_path):
    cfg = MelBandConfig(dim=8, depth=2, heads=2, dim_head=4, time_depth=2, freq_depth=1, mask_depth=1,
                        mask_expansion=3)
    path = write_tiny(tmp_path / "m_fp16.safetensors", cfg, seed=5)
    stored = load_file(str(path))
    assert "layers.1.1.layers.0.0.rotary_embed.freqs" in stored and stored["band_split.to_features.0.0.gamma"].dtype \
        == torch.float16
    assert config_of({k: tuple(v.shape) for k, v in stored.items()}, "m") == cfg
    model = load_mel_band_roformer(path)
    assert model.config == cfg and next(model.parameters()).dtype == torch.float32
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, stored[key].float())
    # the released file's 60-band key layout: 60 band inputs and 60 mask heads
    assert sum(1 for k in stored if k.endswith(".1.weight") and k.startswith("band_split.")) == 60


def test_a_file_that_is_not_the_packs_model_is_refused(tmp_path):
    state = tiny_state_dict()
    save_file({k: v for k, v in state.items() if not k.endswith("to_gates.bias")}, str(tmp_path / "cut.safetensors"))
    with pytest.raises(CheckpointError, match="missing"):
        load_mel_band_roformer(tmp_path / "cut.safetensors")
    state["band_split.to_features.0.0.gamma"] = torch.ones(5)
    state["band_split.to_features.0.1.weight"] = torch.ones(TINY.dim, 5)
    save_file(state, str(tmp_path / "bands.safetensors"))
    with pytest.raises(CheckpointError, match="shape"):
        load_mel_band_roformer(tmp_path / "bands.safetensors")
    save_file({"x": torch.ones(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(CheckpointError, match="not a Mel-Band RoFormer"):
        load_mel_band_roformer(tmp_path / "other.safetensors")


# ---------------------------------------------------------------------------- chunking


@pytest.mark.parametrize("length", [7, 15, 20, 21, 47, 60, 133])
def test_overlap_add_of_an_identity_model_is_the_input(length):
    """Every branch: shorter than half a chunk (zero-padded), a reflected last chunk, and the
    outer reflection padding once longer than 2 * (chunk - step)."""
    audio = torch.randn(2, length, generator=torch.Generator().manual_seed(length))
    torch.testing.assert_close(separate(lambda x: x.clone(), audio, chunk=20), audio)
    torch.testing.assert_close(separate(lambda x: torch.ones_like(x), audio, chunk=20), torch.ones(2, length))


def test_chunks_cross_fade_over_their_overlap():
    """Chunk 20, step 10, fade 2 (a 0 then a 1 at the start, a 1 then a 0 at the end): with
    chunk k answering the constant k, in padded coordinates sample 10k+10 is chunk k's alone
    (chunk k+1 starts at weight 0), 10k+11 .. 10k+18 the mean of k and k+1, 10k+19 chunk
    k+1's alone. The 50 samples are padded by 10 each side (70 in all, chunks at 0..60)."""
    calls = []

    def model(x):
        calls.append(x)
        return torch.full_like(x, float(len(calls) - 1))

    out = separate(model, torch.zeros(1, 50), chunk=20)
    assert len(calls) == 7
    padded = torch.full((70,), float("nan"))
    padded[10:60] = out[0]
    for k in range(5):
        assert padded[10 * k + 10] == k
        torch.testing.assert_close(padded[10 * k + 11:10 * k + 19], torch.full((8,), k + 0.5))
        assert padded[10 * k + 19] == k + 1


def test_the_padding_decision_reads_the_length_given():
    seen = []

    def model(x):
        seen.append(x.shape)
        return x

    separate(model, torch.randn(1, 30), chunk=20, pad_length=15)  # the pack's pre-resampling length
    assert len(seen) == 3  # chunks at 0, 10, 20 of the unpadded 30
    seen.clear()
    separate(model, torch.randn(1, 30), chunk=20)
    assert len(seen) == 5  # 50 after padding: chunks at 0 .. 40


# ---------------------------------------------------------------------------- the nodes


@pytest.fixture
def models(tmp_path):
    folder = tmp_path / "models" / "diffusion_models" / "MelBandRoFormer"
    write_tiny(folder / "MelBandRoformer_fp16.safetensors", seed=7)
    return tmp_path / "models"


@pytest.fixture
def ctx(models):
    return ExecContext(models=ModelRoots.from_options(str(models)), device="cpu", offload_device="cpu")


def test_sampler_with_an_identity_mask_splits_into_the_input_and_silence(ctx):
    model = identity_mask_model()
    mono = torch.randn(1, 1, 30000, generator=torch.Generator().manual_seed(4)) * 0.5
    vocals, instruments = node("MelBandRoFormerSampler")(ctx, model=model, audio={"waveform": mono,
                                                                                  "sample_rate": 44100})
    assert vocals["sample_rate"] == instruments["sample_rate"] == 44100
    assert vocals["waveform"].shape == (1, 2, 30000)  # mono doubled
    torch.testing.assert_close(vocals["waveform"], mono.repeat(1, 2, 1), atol=3e-5, rtol=1e-4)
    torch.testing.assert_close(instruments["waveform"], mono.repeat(1, 2, 1) - vocals["waveform"])
    assert instruments["waveform"].abs().max() < 3e-5


def test_sampler_resamples_to_44100_and_takes_the_first_recording(ctx):
    from wfrun.media.audio import resample

    stereo = torch.randn(2, 2, 22050, generator=torch.Generator().manual_seed(6)) * 0.5
    vocals, _ = node("MelBandRoFormerSampler")(ctx, model=identity_mask_model(),
                                               audio={"waveform": stereo, "sample_rate": 22050})
    assert vocals["waveform"].shape == (1, 2, 44100)
    torch.testing.assert_close(vocals["waveform"][0], resample(stereo[0], 22050, 44100), atol=3e-5, rtol=1e-4)


def test_loader_reads_the_file_the_workflow_names(ctx):
    (model,) = node("MelBandRoFormerModelLoader")(ctx, model_name="MelBandRoFormer\\MelBandRoformer_fp16.safetensors")
    assert isinstance(model, MelBandRoformer) and model.config == TINY
    audio = torch.randn(1, 2, 8000, generator=torch.Generator().manual_seed(8))
    vocals, instruments = node("MelBandRoFormerSampler")(ctx, model=model, audio={"waveform": audio,
                                                                                  "sample_rate": 44100})
    torch.testing.assert_close(vocals["waveform"] + instruments["waveform"], audio)
    assert torch.isfinite(vocals["waveform"]).all()


def test_refusals_name_their_input(ctx, models):
    with pytest.raises(NodeInputError) as err:
        node("MelBandRoFormerModelLoader")(ctx, model_name="missing.safetensors")
    assert err.value.input_name == "model_name"
    save_file({"x": torch.ones(2)}, str(models / "diffusion_models" / "wan.safetensors"))
    with pytest.raises(NodeInputError) as err:
        node("MelBandRoFormerModelLoader")(ctx, model_name="wan.safetensors")
    assert err.value.input_name == "model_name"
    with pytest.raises(NodeInputError) as err:
        node("MelBandRoFormerSampler")(ctx, model="nope", audio={"waveform": torch.zeros(1, 2, 10), "sample_rate": 44100})
    assert err.value.input_name == "model"
    for bad in ({"waveform": torch.zeros(1, 3, 100), "sample_rate": 44100}, {"waveform": torch.zeros(1, 2, 0),
                "sample_rate": 44100}, {"waveform": torch.zeros(2, 100), "sample_rate": 44100}, None):
        with pytest.raises(NodeInputError) as err:
            node("MelBandRoFormerSampler")(ctx, model=identity_mask_model(), audio=bad)
        assert err.value.input_name == "audio"


def test_the_stand_in_for_the_loaders_file(tmp_path):
    from wfrun.models.standins import family_for, write_standins

    standin = family_for("MelBandRoFormerModelLoader", "model_name", "diffusion_models",
                         "MelBandRoFormer\\MelBandRoformer_fp16.safetensors")
    assert standin.family.kind == "mel_band_roformer" and standin.family.precision == "fp16"
    root = write_standins([standin], tmp_path / "tiny", cache=tmp_path / "cache")
    model = load_mel_band_roformer(root / standin.relpath)
    assert model.config == TINY


def test_the_file_is_recognised_in_the_diffusion_models_folder(tmp_path):
    from wfrun.models.detect import detect
    from wfrun.models.preflight import check_model_file

    path = write_tiny(tmp_path / "MelBandRoformer_fp16.safetensors")
    info = detect(path)
    assert info.kind == "mel_band_roformer" and info.dtype == "fp16" and info.config["num_bands"] == 60
    assert check_model_file(path, "diffusion_models").kind == "mel_band_roformer"


def test_a_separation_workflow_runs_with_smoke_stand_ins(tmp_path):
    """LoadAudio -> the pack's loader and sampler -> both stems muxed into videos, on the
    stand-in model and stand-in sound of ``--smoke``."""
    import json

    from click.testing import CliRunner

    from wfrun.cli import main as main_cli
    from wfrun.media.audio import read_first_stream

    combine = {"images": ["4", 0], "frame_rate": 8, "loop_count": 0, "format": "video/h264-mp4",
               "pingpong": False, "save_output": True}
    prompt = {
        "1": {"class_type": "LoadAudio", "inputs": {"audio": "speech.wav"}},
        "2": {"class_type": "MelBandRoFormerModelLoader",
              "inputs": {"model_name": "MelBandRoFormer\\MelBandRoformer_fp16.safetensors"}},
        "3": {"class_type": "MelBandRoFormerSampler", "inputs": {"model": ["2", 0], "audio": ["1", 0]}},
        "4": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 9, "color": 0}},
        "5": {"class_type": "VHS_VideoCombine", "inputs": {**combine, "audio": ["3", 0], "filename_prefix": "vocals"}},
        "6": {"class_type": "VHS_VideoCombine",
              "inputs": {**combine, "audio": ["3", 1], "filename_prefix": "instruments"}},
    }
    path = tmp_path / "separate.json"
    path.write_text(json.dumps(prompt))
    result = CliRunner().invoke(main_cli, ["run", str(path), "--smoke", "-o", str(tmp_path / "out"), "--device", "cpu",
                                           "--format", "json"], env={"WFRUN_CACHE": str(tmp_path / "cache")})
    assert result.exit_code == 0, result.output
    written = json.loads(result.stdout)["written"]
    muxed = sorted(p for p in written if p.endswith("-audio.mp4"))
    assert [Path(p).name for p in muxed] == ["instruments_00001-audio.mp4", "vocals_00001-audio.mp4"]
    for p in muxed:
        sound = read_first_stream(p)  # the stand-in sound is 1 s (padded to the 1.125 s video); stereo, 44.1 kHz
        assert sound.samples.shape[0] == 2 and sound.sample_rate == 44100
        assert 1.0 <= sound.samples.shape[1] / sound.sample_rate < 1.2
        assert np.abs(sound.samples[:, :40000]).max() > 1e-3


def test_progress_is_announced_then_counted_per_chunk():
    calls = []
    separate(lambda x: x, torch.randn(1, 50), chunk=20, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(i, 7) for i in range(8)]
