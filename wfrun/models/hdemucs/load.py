"""Finding and reading the weights of torchaudio's ``HDEMUCS_HIGH_MUSDB_PLUS`` bundle, and
writing tiny ones in the same key layout.

The bundle's only file is ``hdemucs_high_trained.pt``, a ``torch.save``d state dict that
torchaudio downloads into ``<torch hub dir>/torchaudio/models/`` (the hub dir is
``$TORCH_HOME/hub``, else ``$XDG_CACHE_HOME/torch/hub``, else ``~/.cache/torch/hub``), so a
machine that ran the AudioSeparation node in ComfyUI already has it there. wfrun downloads
nothing; it looks, in order, in ``<models>/hdemucs/`` (any models root: where a user may put
a ``.safetensors`` copy, and where wfrun's tiny stand-in lives), then in the hub's
``torchaudio/models/`` and ``checkpoints/`` folders; in each place a ``.safetensors`` copy
is preferred to the ``.pt``. The ``.pt`` is read with ``torch.load(weights_only=True)``
only, without the run's pickle opt-in, as the upscale and frame-interpolation releases are
(``models.upscale.read_release_state_dict``).

The network's widths, depth, FFT size and the layers that get norms, LSTMs and attention
are read from the tensor shapes (so the tiny stand-ins load through the same path); the
rest of the configuration is the bundle's, and every tensor is then checked against the
network built from it (missing, extra or mis-shaped tensors are refused).
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Iterable

import torch

from wfrun.models.hdemucs.network import SOURCES, HDemucs, HDemucsConfig
from wfrun.models.header import CheckpointError

#: The bundle's file name, without its suffix.
STEM = "hdemucs_high_trained"
#: The models sub-folder wfrun also reads it from.
FOLDER = "hdemucs"
#: Where torchaudio downloads it from.
SOURCE_URL = "https://download.pytorch.org/torchaudio/models/hdemucs_high_trained.pt"
#: The rate the bundle's model works at.
SAMPLE_RATE = 44100
#: A tiny network with the bundle's FFT size and depth (so every layer kind is there); its
#: file is stored in float16 (about 0.5 MB; read back in float32 as the bundle's is).
TINY = HDemucsConfig(channels=2, dconv_comp=2)


def torch_hub_dir() -> Path:
    """Where torch (and so torchaudio) keeps downloads: ``torch.hub.get_dir()``'s rule."""
    home = os.environ.get("TORCH_HOME")
    if not home:
        home = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache"), "torch")
    return Path(os.path.expanduser(home)) / "hub"


def candidate_files(model_folders: Iterable[Path]) -> list[Path]:
    """Every place the weights are looked for, in order."""
    hub = torch_hub_dir()
    places = [*model_folders, hub / "torchaudio" / "models", hub / "checkpoints"]
    return [Path(place) / f"{STEM}{suffix}" for place in places for suffix in (".safetensors", ".pt")]


def find_weights(model_folders: Iterable[Path]) -> Path | None:
    for path in candidate_files(model_folders):
        if path.is_file():
            return path
    return None


def _count(shapes: dict[str, tuple[int, ...]], pattern: str) -> int:
    regex = re.compile(pattern)
    found = {int(m.group(1)) for k in shapes if (m := regex.fullmatch(k))}
    return max(found) + 1 if found else 0


def _first(depth: int, shapes: dict[str, tuple[int, ...]], pattern: str) -> int:
    """The first encoder index with a key matching ``pattern`` (``{i}`` the index), else depth."""
    for index in range(depth):
        regex = re.compile(pattern.format(i=index))
        if any(regex.fullmatch(k) for k in shapes):
            return index
    return depth


def config_of(shapes: dict[str, tuple[int, ...]], name: str) -> HDemucsConfig:
    """The network a state dict's shapes describe, or CheckpointError when it is not one."""
    base = HDemucsConfig()
    depth = _count(shapes, r"freq_encoder\.(\d+)\.conv\.weight")
    spectral = _count(shapes, r"time_encoder\.(\d+)\.conv\.weight")
    try:
        first = shapes["freq_encoder.0.conv.weight"]
        audio_channels = shapes["time_encoder.0.conv.weight"][1]
        outputs = shapes[f"freq_decoder.{depth - 1}.conv_tr.weight"][1]
        hidden = shapes["freq_encoder.0.dconv.layers.0.0.weight"][0]
        last_kernel = shapes[f"freq_encoder.{spectral - 1}.conv.weight"][2]
        context = shapes["freq_decoder.0.rewrite.weight"][-1]
        context_enc = shapes["freq_encoder.0.rewrite.weight"][-1]
    except (KeyError, IndexError) as err:
        raise CheckpointError(f"{name}: not a Hybrid Demucs state dict (no {err.args[0]})") from None
    channels = first[0]
    growth = shapes["freq_encoder.1.conv.weight"][0] // channels if depth > 1 else base.growth
    decay = [v for k, v in shapes.items() if re.fullmatch(r"freq_encoder\.\d+\.dconv\.layers\.0\.\d+\.query_decay"
                                                           r"\.weight", k)]
    sources = outputs // (2 * audio_channels)
    if sources != len(SOURCES) or outputs % (2 * audio_channels):
        raise CheckpointError(f"{name}: a Hybrid Demucs of {outputs / (2 * audio_channels):g} sources; the "
                              f"AudioSeparation node needs the bundle's four ({', '.join(SOURCES)})")
    return replace(
        base, audio_channels=audio_channels, channels=channels, growth=growth, depth=depth,
        nfft=2 * last_kernel * base.stride ** (spectral - 1),
        freq_emb=base.freq_emb if "freq_emb.embedding.weight" in shapes else 0.0,
        context=(context - 1) // 2, context_enc=(context_enc - 1) // 2,
        norm_starts=_first(depth, shapes, r"freq_encoder\.{i}\.norm1\.weight"),
        dconv_depth=_count(shapes, r"freq_encoder\.0\.dconv\.layers\.(\d+)\.0\.weight"),
        dconv_comp=max(1, channels // max(1, hidden)),
        dconv_lstm=_first(depth, shapes, r"freq_encoder\.{i}\.dconv\.layers\.0\.\d+\.lstm\.weight_ih_l0"),
        dconv_attn=_first(depth, shapes, r"freq_encoder\.{i}\.dconv\.layers\.0\.\d+\.content\.weight"),
        ndecay=decay[0][0] // base.heads if decay else base.ndecay)


def read_state(path: str | Path) -> dict[str, torch.Tensor]:
    """Every tensor of the file: safetensors, or a ``.pt``/``.pth`` read weights-only."""
    from wfrun.models.reader import open_checkpoint

    path = Path(path)
    allow = True if path.suffix.lower() in (".pt", ".pth") else None
    with open_checkpoint(path, allow_pickle=allow) as reader:
        return dict(reader.iter_tensors())


def build_hdemucs(state: dict[str, torch.Tensor], name: str) -> HDemucs:
    """The network ``state`` describes with ``state`` loaded (float32, eval)."""
    from wfrun.models.reader import checked_float32_state

    config = config_of({k: tuple(v.shape) for k, v in state.items()}, name)
    try:
        model = HDemucs(config)
    except (ValueError, RuntimeError, ZeroDivisionError) as err:
        raise CheckpointError(f"{name}: its shapes describe no Hybrid Demucs wfrun can build ({err})") from None
    wanted = model.state_dict()
    extra = sorted(set(state) - set(wanted))
    if extra:
        raise CheckpointError(f"{name}: {len(extra)} tensors a Hybrid Demucs does not have ({', '.join(extra[:3])})")
    model.load_state_dict(checked_float32_state(state, wanted, name, "the Hybrid Demucs"), strict=True)
    return model.eval()


def load_hdemucs(path: str | Path, device: torch.device | str = "cpu") -> HDemucs:
    path = Path(path)
    return build_hdemucs(read_state(path), path.name).to(device)


def tiny_state_dict(config: HDemucsConfig = TINY, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights in the bundle's key layout (fan-in scaled; norms near one; the DConv
    layer scales at 0.1 so the residual branches matter)."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in HDemucs(config).state_dict().items():
        noise = torch.randn(value.shape, generator=gen)
        if value.ndim >= 2:
            state[key] = noise / max(1, value[0].numel()) ** 0.5
        elif key.endswith(".scale"):
            state[key] = torch.full(value.shape, 0.1)
        elif "norm" in key and key.endswith("weight"):
            state[key] = 1.0 + 0.1 * noise
        else:
            state[key] = 0.1 * noise
    return state


def write_tiny(path: str | Path, config: HDemucsConfig = TINY, seed: int = 0) -> Path:
    """A tiny stand-in for the bundle's weights, saved as float16 safetensors."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.to(torch.float16).contiguous() for k, v in tiny_state_dict(config, seed).items()}, str(path))
    return path
