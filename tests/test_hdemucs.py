"""Hybrid Demucs (wfrun.models.hdemucs) and christian-byrne's AudioSeparation node.

The network is checked against torchaudio's own ``HDemucs``: tests/data/hdemucs/
``hdemucs_small.safetensors`` holds a small torchaudio model's random weights, an input and
torchaudio's output for it (``make_fixture.py`` beside it wrote it, outside the project's
environment). The node's chunking is checked against hand-worked cases of its code."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from node_helpers import node
from wfrun.models.hdemucs import HDemucs, HDemucsConfig, chunk_plan, fade, load_hdemucs, separate_chunks, write_tiny
from wfrun.models.hdemucs.load import TINY, config_of
from wfrun.models.header import CheckpointError
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext, NodeInputError

FIXTURE = Path(__file__).parent / "data" / "hdemucs" / "hdemucs_small.safetensors"


@pytest.fixture(scope="module")
def reference():
    with safe_open(str(FIXTURE), "pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        config = json.loads(f.metadata()["config"])
    weights = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    return weights, tensors["input"], tensors["output"], config


# --- the network against torchaudio ------------------------------------------------------


def test_the_configuration_is_read_from_the_shapes(reference):
    weights, _, _, config = reference
    found = config_of({k: tuple(v.shape) for k, v in weights.items()}, "fixture")
    expected = HDemucsConfig(**{**config, "sources": tuple(config["sources"])})
    assert found == expected


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_forward_matches_torchaudio(reference, tmp_path, suffix):
    weights, mix, expected, _ = reference
    path = tmp_path / f"hdemucs_high_trained{suffix}"
    if suffix == ".pt":  # the bundle's format: a torch.save'd state dict, read weights-only
        torch.save(weights, path)
    else:
        save_file(weights, str(path))
    model = load_hdemucs(path)
    with torch.inference_mode():
        out = model(mix)
    assert out.shape == expected.shape == (1, 4, 2, mix.shape[-1])
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_the_bundles_tensors_are_the_networks_and_give_back_its_configuration():
    """Every tensor torchaudio's hdemucs_high has (so its released file), by name and shape."""
    import gzip

    with gzip.open(FIXTURE.with_name("hdemucs_high_keys.json.gz"), "rt", encoding="utf-8") as f:
        bundle = {k: tuple(v) for k, v in json.load(f).items()}
    assert len(bundle) == 397
    assert config_of(bundle, "hdemucs_high_trained.pt") == HDemucsConfig()
    assert {k: tuple(v.shape) for k, v in HDemucs(HDemucsConfig()).state_dict().items()} == bundle


def test_the_bundles_configuration_has_its_layer_kinds():
    """hdemucs_high: five spectral layers (2048 bins / 4 per layer down to 8, then one kernel
    over them), the fifth merging the bare temporal layer, one shared time-only layer;
    norms, LSTMs and attention from layer 4."""
    model = HDemucs(HDemucsConfig(channels=4))
    assert len(model.freq_encoder) == 6 and len(model.time_encoder) == 5
    assert model.time_encoder[4].bare and not model.time_encoder[3].bare
    assert model.freq_encoder[4].conv.kernel_size == (8, 1) and model.freq_encoder[4].conv.padding == (0, 0)
    assert isinstance(model.freq_encoder[5].conv, torch.nn.Conv1d) and model.freq_encoder[5].conv.stride == (2,)
    assert model.freq_emb.embedding.weight.shape == (512, 4)
    assert isinstance(model.freq_encoder[4].norm1, torch.nn.GroupNorm)
    assert isinstance(model.freq_encoder[3].norm1, torch.nn.Identity)
    keys = model.state_dict()
    assert "freq_encoder.4.dconv.layers.0.3.lstm.weight_ih_l1_reverse" in keys
    assert "freq_encoder.4.dconv.layers.0.4.query_decay.weight" in keys
    assert not any(k.startswith("freq_encoder.3.dconv.layers.0.3.lstm") for k in keys)


def test_tiny_stand_in_loads_and_separates_every_length(tmp_path):
    path = write_tiny(tmp_path / "hdemucs_high_trained.safetensors")
    model = load_hdemucs(path)
    assert model.config == TINY
    for length in (2049, 5000):  # not multiples of the hop; 2049: two steps in the last layer
        with torch.inference_mode():
            out = model(torch.randn(1, 2, length))
        assert out.shape == (1, 4, 2, length) and torch.isfinite(out).all()


def test_a_file_that_is_not_hybrid_demucs_is_refused(reference, tmp_path):
    weights, _, _, _ = reference
    save_file({"weight": torch.zeros(3)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(CheckpointError, match="not a Hybrid Demucs"):
        load_hdemucs(tmp_path / "other.safetensors")
    broken = dict(weights)
    broken["freq_encoder.0.rewrite.bias"] = torch.zeros(3)
    save_file(broken, str(tmp_path / "broken.safetensors"))
    with pytest.raises(CheckpointError, match="rewrite.bias"):
        load_hdemucs(tmp_path / "broken.safetensors")


# --- the node's chunks and fades ---------------------------------------------------------


def test_chunk_plan_of_a_hand_worked_case():
    # 10 Hz, 1 s chunks, 0.2 s overlap: C = int(10 * 1 * 1.2) = 12, V = 2
    assert chunk_plan(30, 10, 1.0, 0.2) == [(0, 12, 0, 2), (10, 24, 2, 2), (22, 36, 2, 0)]
    assert chunk_plan(8, 10, 1.0, 0.2) == [(0, 12, 0, 2)]  # shorter than a chunk: still fades out
    assert chunk_plan(2, 10, 1.0, 0.2) == []  # no longer than the overlap: nothing


def test_fades_are_torchaudios_curves():
    t = torch.linspace(0, 1, 5)
    torch.testing.assert_close(fade(8, 0, 5, "linear")[3:], 1 - t)
    torch.testing.assert_close(fade(8, 5, 0, "exponential")[:5], 2 ** (t - 1) * t)
    torch.testing.assert_close(fade(8, 0, 5, "exponential")[3:], 2 ** (-t) * (1 - t))
    torch.testing.assert_close(fade(8, 5, 0, "logarithmic")[:5], (torch.log10(0.1 + t) + 1).clamp(0, 1))
    torch.testing.assert_close(fade(8, 0, 5, "half_sine")[3:], (torch.cos(t * math.pi) + 1) / 2)
    assert fade(8, 3, 3, "linear")[3:5].eq(1).all()


def _four_copies(x: torch.Tensor) -> torch.Tensor:
    return torch.stack([x * (k + 1) for k in range(4)], 1)


@pytest.mark.parametrize("shape", ["linear", "half_sine"])
def test_an_identity_model_gives_back_the_input(shape):
    mix = torch.randn(1, 2, 95)
    out = separate_chunks(_four_copies, mix, 4, 10, 1.0, 0.2, shape)
    for k in range(4):
        torch.testing.assert_close(out[:, k], mix * (k + 1))


def test_uneven_shapes_and_short_recordings_keep_the_nodes_gains():
    # 100 Hz, 1 s chunks, 0.1 s overlap: C = 110, V = 10; chunks 1 and 2 share [100, 110)
    out = separate_chunks(_four_copies, torch.ones(1, 2, 300), 4, 100, 1.0, 0.1, "logarithmic")[0, 0, 0]
    for i in range(10):
        t = i / 9
        fall, rise = min(1.0, math.log10(1.1 - t) + 1), min(1.0, math.log10(0.1 + t) + 1)
        assert out[100 + i].item() == pytest.approx(fall + rise, abs=1e-6)
    assert out[:100].eq(1).all() and out[110:210].eq(1).all() and out[104].item() > 1.2  # louder in the overlap
    short = separate_chunks(_four_copies, torch.ones(1, 2, 8), 4, 10, 1.0, 0.2, "linear")[0, 0, 0]
    assert short.tolist() == [1, 1, 1, 1, 1, 1, 1, 0]
    assert separate_chunks(_four_copies, torch.ones(1, 2, 2), 4, 10, 1.0, 0.2, "linear").eq(0).all()


# --- the node --------------------------------------------------------------------------


@pytest.fixture
def models(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    write_tiny(tmp_path / "models" / "hdemucs" / "hdemucs_high_trained.safetensors")
    return tmp_path / "models"


@pytest.fixture
def ctx(models):
    return ExecContext(models=ModelRoots.from_options(str(models)), device="cpu", offload_device="cpu")


def test_the_node_maps_sources_normalises_and_chunks(ctx, monkeypatch):
    """With a model that returns source k as (k + 1) x its input, each stem is
    (k + 1)(x - c) + c (c the mean of the channel-mean signal): the normalisation and its
    undoing, the source order (drums, bass, other, vocals) and the seamless linear chunks."""
    import wfrun.packs.audio_separation.separation as separation

    monkeypatch.setattr(separation, "load_hdemucs", lambda path, device="cpu": _Scaled())
    mono = torch.randn(1, 1, 30000, generator=torch.Generator().manual_seed(3)) * 0.3 + 0.05
    bass, drums, other, vocals = node("AudioSeparation")(ctx, audio={"waveform": mono, "sample_rate": 44100},
                                                         chunk_length=0.2, chunk_overlap=0.1)
    centre = mono.mean()
    for stem, scale in ((drums, 1), (bass, 2), (other, 3), (vocals, 4)):
        assert stem["sample_rate"] == 44100 and stem["waveform"].shape == (1, 2, 30000)
        torch.testing.assert_close(stem["waveform"], (scale * (mono - centre) + centre).repeat(1, 2, 1),
                                   atol=2e-5, rtol=1e-5)


class _Scaled(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.p = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return _four_copies(x)


def test_the_node_runs_the_tiny_model_after_resampling(ctx):
    from wfrun.media.audio import resample

    stereo = torch.randn(1, 2, 8000, generator=torch.Generator().manual_seed(5)) * 0.2
    stems = node("AudioSeparation")(ctx, audio={"waveform": stereo, "sample_rate": 16000})
    assert [s["waveform"].shape for s in stems] == [(1, 2, math.ceil(8000 * 44100 / 16000))] * 4
    # the whole recording is one chunk (faded out over its last 0.1 s): compare with the model
    mix = resample(stereo[0], 16000, 44100)
    ref = mix.mean(0)
    model = load_hdemucs(next(iter(ctx.models.folders("hdemucs"))) / "hdemucs_high_trained.safetensors")
    with torch.inference_mode():
        direct = model(((mix - ref.mean()) / ref.std())[None])[0] * ref.std() + ref.mean()
    gain = fade(mix.shape[-1], 0, 4410, "linear")
    expected = (direct - ref.mean()) * gain + ref.mean()
    torch.testing.assert_close(stems[3]["waveform"][0], expected[3], atol=1e-5, rtol=1e-4)  # vocals
    torch.testing.assert_close(stems[0]["waveform"][0], expected[1], atol=1e-5, rtol=1e-4)  # bass


def test_the_bundles_pickle_is_read_from_torchaudios_download_folder(tmp_path, monkeypatch):
    from wfrun.models.hdemucs.load import tiny_state_dict

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    target = tmp_path / "torch" / "hub" / "torchaudio" / "models" / "hdemucs_high_trained.pt"
    target.parent.mkdir(parents=True)
    torch.save(tiny_state_dict(), target)
    ctx = ExecContext(models=ModelRoots.from_options(str(tmp_path / "empty")), device="cpu", offload_device="cpu")
    stems = node("AudioSeparation")(ctx, audio={"waveform": torch.randn(1, 2, 3000), "sample_rate": 44100})
    assert len(stems) == 4 and all(torch.isfinite(s["waveform"]).all() for s in stems)


def test_refusals_name_their_input(tmp_path, monkeypatch, ctx):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "nothing"))
    bare = ExecContext(models=ModelRoots.from_options(str(tmp_path / "empty")), device="cpu", offload_device="cpu")
    audio = {"waveform": torch.randn(1, 2, 3000), "sample_rate": 44100}
    with pytest.raises(NodeInputError, match="hdemucs_high_trained.pt") as err:
        node("AudioSeparation")(bare, audio=audio)
    assert "never downloads" in err.value.hint and str(tmp_path / "nothing") in str(err.value)
    cases = [({"audio": {"waveform": torch.randn(2, 2, 100), "sample_rate": 44100}}, "audio", "2 recordings"),
             ({"audio": {"waveform": torch.zeros(1, 2, 100), "sample_rate": 44100}}, "audio", "silent"),
             ({"audio": "song.wav"}, "audio", "expected an AUDIO"),
             ({"audio": audio, "chunk_length": 0.0}, "chunk_length", "never advance"),
             ({"audio": audio, "chunk_fade_shape": "quarter_sine"}, "chunk_fade_shape", "fade shapes")]
    for inputs, name, words in cases:
        with pytest.raises(NodeInputError, match=words) as err:
            node("AudioSeparation")(ctx, **inputs)
        assert err.value.input_name == name
