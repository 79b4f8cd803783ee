"""FantasyTalking's audio condition for a Wan 2.1 I2V transformer, as ComfyUI-WanVideoWrapper
loads and windows it (``fantasytalking/model.py`` and ``nodes.py``, 2025-04-28 to 2025-07;
the later versions of the node are the same).

The file (Kijai's ``fantasytalking_fp16.safetensors``, from Fantasy-AMAP's release) holds two
parts:

* ``proj_model``: ``proj`` (a linear map without bias from the wav2vec 2.0 width, 768, to
  the audio token width, 2048) and a LayerNorm ``norm`` after it — each wav2vec frame (50 a
  second) becomes one audio token;
* ``blocks.N.cross_attn.k_proj`` / ``v_proj``: per transformer block, linear maps without
  bias from the audio token width to the model's. The pack adds them to its cross-attention
  modules (``WanVideoModelLoader``'s ``fantasytalking_model`` input); wfrun attaches them to
  diffusers' ``attn2`` of each block as ``audio_k_proj`` / ``audio_v_proj``
  (:func:`attach`), so device moves and block swap carry them with their block.

How the audio tokens are shared out over the latent frames (:func:`window_ranges`,
:func:`split_windows`): with ``T`` audio tokens for ``N`` video frames, ``T/N`` tokens a
frame and ``h = int(2 T/N)`` (half of a latent frame's four frames), latent frame ``i >= 1``
is centred on ``int(((4i - 3) + (4i + 1)) T/N / 2) - 1`` and spans ``h`` tokens each side;
latent frame 0 takes the ``2h`` tokens that end where frame 1's span starts. Each span is
widened by 4 tokens each side; what falls outside the audio is cut and the window is filled
up with zeros *at its end* (both the part cut in front and the part cut behind), so every
window has ``2h + 9`` tokens of which ``lens[i]`` are audio. The sampler's cross-attention
then lets each latent frame's video tokens attend to its own window (``sampling/audio``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from wfrun.models.header import CheckpointError

#: Audio tokens added each side of a latent frame's span (the pack's ``expand_length``).
EXPAND = 4
#: Video frames a latent frame covers after the first (the Wan VAE's time stride).
FRAMES_PER_LATENT = 4
PROJ, NORM = "proj_model.proj.weight", "proj_model.norm"
KV = "blocks.{}.cross_attn.{}_proj.weight"
#: Where :func:`attach` puts a block's audio key and value maps on diffusers' ``attn2``.
AUDIO_K, AUDIO_V = "audio_k_proj", "audio_v_proj"


@dataclass(frozen=True)
class FantasyTalkingSpec:
    audio_dim: int  # the wav2vec 2.0 width the projection reads (768)
    proj_dim: int   # the audio tokens' width (2048)
    dim: int        # the transformer's width (5120 for the 14B)
    blocks: int


class AudioProjection(nn.Module):
    """``proj_model``: wav2vec frames ``[B, T, audio_dim]`` → audio tokens ``[B, T, proj_dim]``."""

    def __init__(self, audio_dim: int, proj_dim: int):
        super().__init__()
        self.proj = nn.Linear(audio_dim, proj_dim, bias=False)
        self.norm = nn.LayerNorm(proj_dim)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(features))


class AudioKV(nn.Module):
    """One block's audio key and value maps (``cross_attn.k_proj`` / ``v_proj``)."""

    def __init__(self, proj_dim: int, dim: int):
        super().__init__()
        self.k_proj = nn.Linear(proj_dim, dim, bias=False)
        self.v_proj = nn.Linear(proj_dim, dim, bias=False)


class FantasyTalkingModule(nn.Module):
    def __init__(self, spec: FantasyTalkingSpec):
        super().__init__()
        self.proj_model = AudioProjection(spec.audio_dim, spec.proj_dim)
        self.blocks = nn.ModuleList(AudioKV(spec.proj_dim, spec.dim) for _ in range(spec.blocks))

    def state_names(self) -> dict[str, str]:
        """The module's parameter names → the file's names."""
        names = {f"proj_model.{k}": f"proj_model.{k}" for k, _ in self.proj_model.named_parameters()}
        for i in range(len(self.blocks)):
            for part in ("k", "v"):
                names[f"blocks.{i}.{part}_proj.weight"] = KV.format(i, part)
        return names


@dataclass(frozen=True)
class FantasyTalking:
    """FANTASYTALKINGMODEL: the projection (in the loader's ``base_precision``) and the
    per-block key/value maps (as stored), on the CPU until used."""

    module: FantasyTalkingModule
    spec: FantasyTalkingSpec
    path: Path | None = None

    @property
    def projection(self) -> AudioProjection:
        return self.module.proj_model


def is_fantasytalking(names: Any) -> bool:
    return PROJ in names and KV.format(0, "k") in names


def spec_of(shapes: Mapping[str, tuple[int, ...]], source: str = "the file") -> FantasyTalkingSpec:
    if not is_fantasytalking(shapes):
        raise CheckpointError(f"{source}: not a FantasyTalking model (no {PROJ} and {KV.format(0, 'k')}); "
                              "get fantasytalking_fp16.safetensors from Kijai/WanVideo_comfy")
    proj_dim, audio_dim = shapes[PROJ]
    blocks = 0
    while KV.format(blocks, "k") in shapes:
        blocks += 1
    dim = shapes[KV.format(0, "k")][0]
    return FantasyTalkingSpec(audio_dim=audio_dim, proj_dim=proj_dim, dim=dim, blocks=blocks)


def load_fantasytalking(path: str | Path, *, dtype: torch.dtype = torch.float16,
                        allow_pickle: bool | None = None) -> FantasyTalking:
    """FANTASYTALKINGMODEL of a file: the projection cast to ``dtype`` (the loader's
    ``base_precision``); the key/value maps as stored (the model loader casts them to the
    transformer's precision). CheckpointError for anything else."""
    from wfrun.models.reader import open_checkpoint, read_checked_state

    path = Path(path)
    with open_checkpoint(path, allow_pickle=allow_pickle) as reader:
        shapes = {k: tuple(v.shape) for k, v in reader.tensors.items()}
        spec = spec_of(shapes, path.name)
        with torch.device("meta"):
            module = FantasyTalkingModule(spec)
        state = read_checked_state(reader, path, module.state_dict(), "FantasyTalking model",
                                   lambda key, t: t.to(dtype) if key.startswith("proj_model.") else t,
                                   module.state_names())
    module.load_state_dict(state, assign=True, strict=True)
    return FantasyTalking(module.eval().requires_grad_(False), spec, path)


# ---------------------------------------------------------------------------- the transformer

def attach(transformer: Any, model: FantasyTalking, dtype: torch.dtype) -> None:
    """Give each block's cross-attention its audio key and value maps (``dtype``, on the
    block's device): the pack's ``block.cross_attn.k_proj``/``v_proj``. ValueError when the
    file was made for another width or depth."""
    blocks = transformer.blocks
    spec = model.spec
    width = int(transformer.config.num_attention_heads * transformer.config.attention_head_dim)
    if spec.dim != width or spec.blocks != len(blocks):
        raise ValueError(f"the FantasyTalking model is made for {spec.blocks} blocks {spec.dim} wide; the transformer "
                         f"has {len(blocks)} blocks {width} wide (FantasyTalking is made for Wan 2.1 I2V 14B)")
    for block, kv in zip(blocks, model.module.blocks):
        device = next(block.parameters()).device
        for name, linear in ((AUDIO_K, kv.k_proj), (AUDIO_V, kv.v_proj)):
            with torch.device("meta"):
                new = nn.Linear(spec.proj_dim, spec.dim, bias=False)
            new.load_state_dict({"weight": linear.weight.detach().to(device, dtype)}, assign=True)
            setattr(block.attn2, name, new.requires_grad_(False))


def has_audio_maps(transformer: Any) -> bool:
    """Whether :func:`attach` gave the transformer FantasyTalking's audio maps."""
    blocks = getattr(transformer, "blocks", None)
    return bool(blocks) and all(getattr(b.attn2, AUDIO_K, None) is not None for b in blocks)


# ---------------------------------------------------------------------------- windows

def window_ranges(tokens: int, num_frames: int) -> list[tuple[int, int]]:
    """Each latent frame's span of audio tokens, both ends included (module docstring):
    ``int((num_frames - 1) / 4) + 1`` spans. ValueError under 5 frames (the pack builds the
    first span from the second)."""
    latent = int((num_frames - 1) / FRAMES_PER_LATENT) + 1
    if latent < 2:
        raise ValueError(f"{num_frames} frames make one latent frame; FantasyTalking needs at least 5 frames")
    per_frame = tokens / num_frames
    half = int(per_frame * FRAMES_PER_LATENT / 2)
    centres = [0]
    for i in range(1, latent):
        start = per_frame * ((i - 1) * FRAMES_PER_LATENT + 1)
        end = per_frame * (i * FRAMES_PER_LATENT + 1)
        centres.append(int((start + end) / 2) - 1)
    spans = [(c - half, c + half) for c in centres]
    second_start = spans[1][0]
    spans[0] = (second_start - 2 * half, second_start)
    return spans


def split_windows(tokens: torch.Tensor, spans: list[tuple[int, int]],
                  expand: int = EXPAND) -> tuple[torch.Tensor, torch.Tensor]:
    """``tokens`` ``[1, T, C]`` cut into the widened spans, each filled up with zeros at its
    end: ``([1, F, L, C], lens [F])`` with ``lens`` the audio tokens of each window."""
    last = tokens.shape[1] - 1
    windows, lens = [], []
    for start, end in spans:
        start, end = start - expand, end + expand
        lo, hi = max(start, 0), min(end, last)
        part = tokens[:, lo:hi + 1] if lo <= hi else tokens[:, :0]
        fill = max(-start, 0) + max(end - last, 0)
        windows.append(F.pad(part, (0, 0, 0, fill)))
        lens.append(part.shape[1])
    sizes = {w.shape[1] for w in windows}
    if len(sizes) != 1:
        raise ValueError(f"the audio ({tokens.shape[1]} tokens) does not reach every latent frame's window; "
                         "give audio as long as the video")
    return torch.stack(windows, dim=1), torch.tensor(lens, dtype=torch.long)


# ---------------------------------------------------------------------------- tiny files

def tiny_state_dict(*, dim: int = 32, blocks: int = 2, audio_dim: int = 32, proj_dim: int = 24,
                    seed: int = 0) -> dict[str, torch.Tensor]:
    """A random FantasyTalking file's tensors in its own names, for a ``dim``-wide
    transformer of ``blocks`` blocks and a wav2vec encoder ``audio_dim`` wide."""
    g = torch.Generator().manual_seed(seed)
    sd = {PROJ: torch.randn(proj_dim, audio_dim, generator=g) / audio_dim ** 0.5,
          f"{NORM}.weight": 1 + torch.randn(proj_dim, generator=g) * 0.05,
          f"{NORM}.bias": torch.randn(proj_dim, generator=g) * 0.05}
    for i in range(blocks):
        for part in ("k", "v"):
            sd[KV.format(i, part)] = torch.randn(dim, proj_dim, generator=g) / proj_dim ** 0.5
    return sd


def write_tiny(path: str | Path, *, dtype: torch.dtype = torch.float16, seed: int = 0, **sizes: int) -> Path:
    from wfrun.models.tiny import write_state

    return write_state(path, tiny_state_dict(seed=seed, **sizes), dtype)
