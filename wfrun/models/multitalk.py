"""The MultiTalk / InfiniteTalk audio patch of a Wan 2.1 transformer, as ComfyUI's
``ModelPatchLoader`` loads it (``comfy_extras/nodes_model_patch.py``) and its Wan nodes use it
(``comfy/ldm/wan/model_multitalk.py``, ``WanInfiniteTalkToVideo``).

The file (``infinitetalk_single.safetensors``, ``multitalk.safetensors``) holds two parts:

* ``audio_proj``: the projection of wav2vec 2.0 hidden states into 32 context tokens per
  latent frame. The first latent frame sees a window of 5 audio frames around the first
  video frame; each later latent frame (4 video frames) sees 8: the first three of its first
  frame's window, the centre of its two middle frames' windows and the last three of its
  last frame's window. Both go through their own first layer (ReLU), a shared second layer
  (ReLU), a third to ``32 x width`` values and a LayerNorm.
* ``blocks.N``: per transformer block, a LayerNorm (``norm_x``) and an audio cross-attention
  (``audio_cross_attn``: ``q_linear``, ``kv_linear`` from the audio width, ``proj``), where
  every latent frame's video tokens attend to that frame's 32 audio tokens. ComfyUI adds
  ``scale x attention(norm_x(x))`` to the block's hidden states right after its text
  cross-attention (the ``attn2_patch``).

Two speakers (the "multi" file, ``WanInfiniteTalkToVideo``'s ``two_speakers`` mode): the
speakers' 32 tokens sit side by side (64 a latent frame), and rotary positions on one axis
tell them apart. Each video token gets a position from its block's *reference map*: the
share of its self-attention (queries and keys after RoPE, averaged over the heads) that
falls on the first latent frame's tokens inside each speaker's mask; the speaker it looks at
most decides, and the share, scaled between that speaker's least and most over the video,
places it in the speaker's band (0..4 for the first, 20..24 for the second). The audio
tokens sit at their speaker's band centre (2 and 22). :func:`reference_map` computes the
map, :func:`speaker_positions` the positions; the sampling hook runs them
(``wfrun.sampling.infinitetalk``).

ComfyUI builds 40 blocks of 40 heads (Wan 2.1 14B's) and reads the widths from the tensors;
wfrun counts the blocks in the file and takes 40 heads for a 5120-wide patch, and for other
widths only the head count a file states in its metadata (``wfrun.num_heads``: its tiny
stand-ins). The weights stay in the file's dtype (16-bit: 4.8 GB rather than 9.5 GB as
float32) and, as ComfyUI's cast-on-use layers, are cast to the input's dtype at each use:
the audio projection runs in float32 on the node's float32 features, the per-block parts in
the transformer's compute dtype. Differences: a token count other than the latent grid's
is refused (ComfyUI's branch for it cannot reshape what it keeps); a batch of several
samples in one call (ComfyUI's views need one) gets the same audio tokens and each sample
its own reference map; otherwise none intended.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from wfrun.models.header import CheckpointError

#: ComfyUI's fixed shape of the patch: 5 audio frames a window, 32 tokens a latent frame,
#: 4 video frames a latent frame, 40 heads (Wan 2.1 14B).
AUDIO_WINDOW, CONTEXT_TOKENS, VAE_SCALE, HEADS_14B = 5, 32, 4, 40
#: wav2vec 2.0 runs at 50 hidden states a second, the video at 25 frames.
AUDIO_FPS, VIDEO_FPS = 50, 25


#: Two speakers' rotary bands (ComfyUI's ``class_range`` 24, ``class_interval`` 4): the
#: first speaker's tokens 0..4, the second's 20..24.
SPEAKER_RANGE, SPEAKER_INTERVAL = 24, 4
ROPE_BASE = 10000.0


def _linear(layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """``layer(x)`` with its weights cast to ``x``'s dtype and device (cast on use)."""
    bias = None if layer.bias is None else layer.bias.to(x.device, x.dtype)
    return F.linear(x, layer.weight.to(x.device, x.dtype), bias)


def _layer_norm(norm: nn.LayerNorm, x: torch.Tensor, eps: float | None = None) -> torch.Tensor:
    weight = None if norm.weight is None else norm.weight.to(x.device, x.dtype)
    bias = None if norm.bias is None else norm.bias.to(x.device, x.dtype)
    return F.layer_norm(x, norm.normalized_shape, weight, bias, norm.eps if eps is None else eps)


class AudioProjection(nn.Module):
    """``audio_proj``: wav2vec windows → ``CONTEXT_TOKENS`` tokens per latent frame."""

    def __init__(self, per_frame: int, intermediate: int, out_dim: int):
        super().__init__()
        self.seq_len, self.seq_len_vf = AUDIO_WINDOW, AUDIO_WINDOW + VAE_SCALE - 1
        self.out_dim, self.per_frame = out_dim, per_frame
        self.proj1 = nn.Linear(self.seq_len * per_frame, intermediate)
        self.proj1_vf = nn.Linear(self.seq_len_vf * per_frame, intermediate)
        self.proj2 = nn.Linear(intermediate, intermediate)
        self.proj3 = nn.Linear(intermediate, CONTEXT_TOKENS * out_dim)
        self.norm = nn.LayerNorm(out_dim)

    def forward(self, first: torch.Tensor, later: torch.Tensor) -> torch.Tensor:
        """``first`` [speakers, 1, 5, layers, C], ``later`` [speakers, n, 8, layers, C] →
        [speakers, 1 + n, 32, out_dim]."""
        speakers = first.shape[0]
        a = torch.relu(_linear(self.proj1, first.flatten(2)))     # [S, 1, I]
        b = torch.relu(_linear(self.proj1_vf, later.flatten(2)))  # [S, n, I]
        h = torch.relu(_linear(self.proj2, torch.cat([a, b], dim=1)))
        tokens = _linear(self.proj3, h).unflatten(-1, (CONTEXT_TOKENS, self.out_dim))
        return _layer_norm(self.norm, tokens).reshape(speakers, -1, CONTEXT_TOKENS, self.out_dim)


class AudioCrossAttention(nn.Module):
    """``audio_cross_attn``: each latent frame's video tokens attend to its audio tokens."""

    def __init__(self, dim: int, audio_dim: int, heads: int):
        super().__init__()
        self.dim, self.heads = dim, heads
        self.q_linear = nn.Linear(dim, dim)
        self.kv_linear = nn.Linear(audio_dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, audio: torch.Tensor, grid: tuple[int, int, int],
                positions: torch.Tensor | None = None, speakers: int = 2) -> torch.Tensor:
        """``x`` [B, frames x h x w tokens, dim], ``audio`` [frames, tokens_a, audio_dim] (the
        same for every sample) → [B, tokens, dim]. ``positions`` [B, tokens] (several
        speakers: :func:`speaker_positions`) turn on the speakers' rotary positions: the video
        tokens' queries at theirs, the audio tokens' keys at their speaker's band centre
        (:func:`key_positions`: each frame's audio tokens split evenly among ``speakers``).
        (ComfyUI's branch for a token count other than the grid's cannot reshape what it
        keeps, so it fails there; wfrun refuses it.)"""
        frames, h, w = grid
        per_frame = h * w
        batch = x.shape[0]
        if x.shape[1] != frames * per_frame:
            raise ValueError(f"{x.shape[1]} video tokens for a grid of {frames} x {h} x {w}")
        if audio.shape[0] != frames:
            raise ValueError(f"the audio holds {audio.shape[0]} latent frames of tokens; the video has {frames}")
        head_dim = self.dim // self.heads
        kv = _linear(self.kv_linear, audio.to(x.device, x.dtype))  # [frames, tokens_a, 2 dim]
        k, v = kv.unflatten(-1, (2, self.heads, head_dim)).unbind(2)  # [frames, tokens_a, heads, hd]
        q = _linear(self.q_linear, x).unflatten(-1, (self.heads, head_dim))  # [B, tokens, heads, hd]
        if positions is not None:
            q = rotate_1d(q, positions.to(x.device)[:, :, None])
            k = rotate_1d(k, key_positions(k.shape[1], speakers).to(x.device)[None, :, None])
        q = q.reshape(batch * frames, per_frame, self.heads, head_dim)
        k = k.repeat(batch, 1, 1, 1)
        v = v.repeat(batch, 1, 1, 1)
        out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        out = _linear(self.proj, out.transpose(1, 2).reshape(batch * frames, per_frame, self.dim))
        return out.reshape(batch, frames * per_frame, self.dim)


def rotate_1d(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Rotary embedding on one axis (ComfyUI's ``RotaryPositionalEmbedding1D``): channel pair
    ``(2i, 2i+1)`` of ``x`` [..., head_dim] turned by ``position / 10000^(2i/head_dim)``,
    in float32; ``positions`` broadcast against ``x``'s leading dimensions."""
    dim = x.shape[-1]
    freqs = 1.0 / (ROPE_BASE ** (torch.arange(0, dim, 2, device=x.device)[: dim // 2].float() / dim))
    angles = (positions.float()[..., None] * freqs).repeat_interleave(2, dim=-1)
    xf = x.float()
    pairs = xf.unflatten(-1, (-1, 2))
    rotated = torch.stack([-pairs[..., 1], pairs[..., 0]], dim=-1).flatten(-2)
    return (xf * angles.cos() + rotated * angles.sin()).type_as(x)


def reference_map(query: torch.Tensor, key: torch.Tensor, per_frame: int, masks: torch.Tensor,
                  chunk: int = 4096) -> torch.Tensor:
    """Two speakers' reference map of one block (ComfyUI's ``get_attn_map_with_target``).

    ``query`` [B, tokens, heads, hd] and ``key`` [B, >= per_frame, heads, hd] are the block's
    self-attention queries and keys after RoPE; ``masks`` [speakers, per_frame] say which of
    the first latent frame's tokens each speaker covers. For each video token: its attention
    (softmax over the first frame's keys) summed over each mask and divided by the mask's
    size, averaged over the heads as ComfyUI does (two halves of ``heads // 2`` heads, each
    averaged, then the two averaged) → [B, speakers, tokens]. Queries run ``chunk`` at a time
    (each token's row is its own)."""
    batch, tokens, heads, head_dim = query.shape
    half = heads // 2
    used = 2 * half
    ref = key[:, :per_frame, :used].transpose(1, 2).float()  # [B, used, per_frame, hd]
    weights = masks.to(query.device, torch.float32).T  # [per_frame, speakers]
    sizes = weights.sum(0)
    out = []
    for a in range(0, tokens, chunk):
        q = query[:, a:a + chunk, :used].transpose(1, 2).float() / head_dim ** 0.5
        attn = (q @ ref.transpose(-1, -2)).softmax(-1)  # [B, used, n, per_frame]
        share = (attn @ weights) / sizes  # [B, used, n, speakers]
        share = share.unflatten(1, (2, half)).mean(2).mean(1)  # each half averaged, then the halves
        out.append(share)
    return torch.cat(out, dim=1).transpose(1, 2)


def speaker_bands(speakers: int) -> list[tuple[float, float]]:
    """Each speaker's rotary band: two speakers at the ends of the range (0..4, 20..24:
    MultiTalk's own rule, ComfyUI's and the wrapper's since 2025-07-14), more speakers side
    by side (``4i .. 4i + 4``, the wrapper's rule for three or four)."""
    if speakers == 2:
        return [(0.0, float(SPEAKER_INTERVAL)), (float(SPEAKER_RANGE - SPEAKER_INTERVAL), float(SPEAKER_RANGE))]
    return [(float(i * SPEAKER_INTERVAL), float((i + 1) * SPEAKER_INTERVAL)) for i in range(speakers)]


#: The position of a token whose largest share falls on a mask past the speakers' (a
#: background mask): the middle of the range.
BACKGROUND_POSITION = float(SPEAKER_RANGE // 2)


def key_positions(tokens: int, speakers: int) -> torch.Tensor:
    """The audio tokens' rotary positions [tokens]: the tokens split evenly among the
    speakers in order, each at its band's centre (2 and 22 for two speakers)."""
    bands = speaker_bands(speakers)
    per = tokens // speakers
    out = torch.full((tokens,), (bands[-1][0] + bands[-1][1]) / 2)
    for i, (low, high) in enumerate(bands):
        out[i * per:(i + 1) * per] = (low + high) / 2
    return out


def speaker_positions(maps: torch.Tensor, speakers: int | None = None, eps: float = 1e-8) -> torch.Tensor:
    """Each video token's rotary position from the reference map [B, masks, tokens]
    (``SingleStreamMultiAttention``): each speaker's row rescaled from its least and most
    over the video to its band (:func:`speaker_bands`); the token takes the band of the
    mask with the largest share (the first on a tie), :data:`BACKGROUND_POSITION` where
    that is a mask past the ``speakers`` first (the wrapper's background mask). ``speakers``
    defaults to the masks (ComfyUI's two) → [B, tokens]."""
    speakers = maps.shape[1] if speakers is None else int(speakers)
    if speakers < 2 or maps.shape[1] < speakers:
        raise ValueError(f"speaker positions for {speakers} speakers from {maps.shape[1]} masks")
    scaled = []
    for i, (low, high) in enumerate(speaker_bands(speakers)):
        row = maps[:, i]
        least = row.amin(dim=1, keepdim=True)
        most = row.amax(dim=1, keepdim=True)
        scaled.append((row - least) / (most - least + eps) * (high - low) + low)
    scaled += [torch.full_like(maps[:, 0], BACKGROUND_POSITION)] * (maps.shape[1] - speakers)
    choice = maps.argmax(dim=1, keepdim=True)  # first of equal maxima
    return torch.stack(scaled, dim=1).gather(1, choice).squeeze(1)


class AudioBlock(nn.Module):
    def __init__(self, dim: int, audio_dim: int, heads: int):
        super().__init__()
        self.audio_cross_attn = AudioCrossAttention(dim, audio_dim, heads)
        self.norm_x = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, audio: torch.Tensor, grid: tuple[int, int, int],
                positions: torch.Tensor | None = None, speakers: int = 2, eps: float | None = None) -> torch.Tensor:
        """``audio_cross_attn(norm_x(x))``: what the block adds (before the audio scale).
        ``eps``: the norm's epsilon where the caller's model differs from ComfyUI's 1e-5
        (the wrapper builds ``norm_x`` with the transformer's 1e-6)."""
        return self.audio_cross_attn(_layer_norm(self.norm_x, x, eps), audio, grid, positions, speakers)


class MultiTalkModule(nn.Module):
    def __init__(self, spec: "MultiTalkSpec"):
        super().__init__()
        self.audio_proj = AudioProjection(spec.audio_values, spec.intermediate, spec.audio_dim)
        self.blocks = nn.ModuleList(AudioBlock(spec.dim, spec.audio_dim, spec.heads) for _ in range(spec.blocks))


@dataclass(frozen=True)
class MultiTalkSpec:
    dim: int            # the transformer's width
    heads: int
    blocks: int
    audio_dim: int      # the audio tokens' width (768)
    intermediate: int   # audio_proj's hidden width (512)
    audio_values: int   # values an audio frame: wav2vec layers x width (12 x 768)


@dataclass(frozen=True)
class MultiTalkPatch:
    """MODEL_PATCH of a MultiTalk/InfiniteTalk file: the module (in the file's dtype) and its shape."""

    module: Any
    spec: MultiTalkSpec
    path: Path | None = None


def is_multitalk(names: Any) -> bool:
    """ComfyUI's test for the patch: an ``audio_proj.proj1.weight`` tensor."""
    return "audio_proj.proj1.weight" in names


def spec_of(shapes: Mapping[str, tuple[int, ...]], metadata: Mapping[str, str] | None = None,
            source: str = "the file") -> MultiTalkSpec:
    try:
        dim = shapes["blocks.0.audio_cross_attn.proj.weight"][0]
        intermediate = shapes["audio_proj.proj1.weight"][0]
        audio_dim = shapes["audio_proj.norm.weight"][0]
        proj1_in = shapes["audio_proj.proj1.weight"][1]
        proj1_vf_in = shapes["audio_proj.proj1_vf.weight"][1]
    except (KeyError, IndexError) as err:
        raise CheckpointError(f"{source}: a MultiTalk patch without {err.args[0]}") from None
    blocks = 0
    while f"blocks.{blocks}.audio_cross_attn.proj.weight" in shapes:
        blocks += 1
    if dim == 5120:
        heads = HEADS_14B
    else:
        try:
            heads = int((metadata or {})["wfrun.num_heads"])
        except (KeyError, ValueError):
            raise CheckpointError(f"{source}: a {dim}-wide MultiTalk patch; ComfyUI builds it for the 5120-wide "
                                  "Wan 2.1 14B only") from None
    if heads <= 0 or dim % heads:
        raise CheckpointError(f"{source}: {dim} wide is not a whole number of {heads} heads")
    # proj1 reads 5 audio frames, proj1_vf 8, each the wav2vec layers' states side by side
    per_frame = proj1_in // AUDIO_WINDOW
    if proj1_in % AUDIO_WINDOW or proj1_vf_in != per_frame * (AUDIO_WINDOW + VAE_SCALE - 1):
        raise CheckpointError(f"{source}: audio_proj reads {proj1_in} and {proj1_vf_in} values, not 5 and 8 audio "
                              "frames of the same width")
    return MultiTalkSpec(dim=dim, heads=heads, blocks=blocks, audio_dim=audio_dim, intermediate=intermediate,
                         audio_values=per_frame)


#: Weight dtypes kept as stored (others, fp8 say, are widened to float32 once).
KEPT_DTYPES = (torch.float16, torch.bfloat16, torch.float32)


def load_multitalk(path: str | Path, *, device: Any = "cpu", allow_pickle: bool | None = None,
                   convert: Callable[[str, torch.Tensor], torch.Tensor] | None = None) -> MultiTalkPatch:
    """The patch of ``path``. ``convert(name, tensor)``: the stored dtype a caller wants for
    each tensor (the wrapper's model loader: its precision, fp8 under fp8 quantization);
    without it 16- and 32-bit weights stay as stored and others are widened to float32."""
    from wfrun.models.reader import open_checkpoint

    path = Path(path)
    with open_checkpoint(path, allow_pickle=allow_pickle) as reader:
        shapes = {k: tuple(v.shape) for k, v in reader.tensors.items()}
        if not is_multitalk(shapes):
            raise CheckpointError(f"{path.name}: not a MultiTalk/InfiniteTalk patch (no audio_proj.proj1.weight)")
        spec = spec_of(shapes, reader.metadata, path.name)
        with torch.device("meta"):
            module = MultiTalkModule(spec)
        wanted = module.state_dict()
        missing = [k for k in wanted if k not in shapes]
        if missing:
            raise CheckpointError(f"{path.name}: the MultiTalk patch is missing {len(missing)} tensors "
                                  f"({', '.join(missing[:3])})")
        state = {}
        for key, like in wanted.items():
            if shapes[key] != tuple(like.shape):
                raise CheckpointError(f"{path.name}: {key} has shape {shapes[key]}, expected {tuple(like.shape)}")
            tensor = reader.read(key, device)
            if convert is not None:
                state[key] = convert(key, tensor)
            else:
                state[key] = tensor if tensor.dtype in KEPT_DTYPES else tensor.to(torch.float32)
    module.load_state_dict(state, assign=True, strict=True)
    return MultiTalkPatch(module.eval().requires_grad_(False), spec, path)


# ---------------------------------------------------------------------------- audio features

def audio_frames(all_layers: tuple[torch.Tensor, ...] | list[torch.Tensor]) -> torch.Tensor:
    """wav2vec hidden states (ComfyUI's ``encoded_audio_all_layers``, each [1, T, C]) as the
    patch reads them: the layers' outputs (the first state, the projected features, dropped),
    resampled from 50 to 25 a second by linear interpolation (corners aligned, ``int(T / 2)``
    frames): [frames, layers, C]."""
    stacked = torch.stack(list(all_layers), dim=0).squeeze(1)[1:]  # [layers, T, C]
    length = int(stacked.shape[1] / float(AUDIO_FPS) * VIDEO_FPS)
    out = F.interpolate(stacked.transpose(1, 2), size=length, mode="linear", align_corners=True)
    return out.transpose(1, 2).movedim(0, 1)


def audio_windows(speakers: list[torch.Tensor], start: int, end: int, pad_first: bool = True) -> torch.Tensor:
    """For each video frame ``start .. end - 1``, the 5 audio frames centred on it (indices
    clamped to the audio; with ``pad_first``, ComfyUI's rule, audio shorter than ``end`` is
    first padded with copies of its first frame; the wrapper only clamps, repeating the
    last): [speakers, frames, 5, layers, C]."""
    offsets = torch.arange(AUDIO_WINDOW) - AUDIO_WINDOW // 2
    out = []
    for audio in speakers:
        if pad_first and end > audio.shape[0]:
            audio = torch.cat([audio, audio[:1].repeat(end - audio.shape[0], *([1] * (audio.ndim - 1)))])
        index = (torch.arange(start, end)[:, None] + offsets[None]).clamp(0, audio.shape[0] - 1)
        out.append(audio[index])
    return torch.stack(out)


def audio_tokens(projection: AudioProjection, speakers: list[torch.Tensor], start: int, end: int,
                 pad_first: bool = True) -> torch.Tensor:
    """The patch's audio tokens for video frames ``start .. end - 1`` (``end - start`` = 4n + 1):
    [1, latent frames, 32 x speakers, width], the speakers' tokens side by side."""
    return project_windows(projection, audio_windows(speakers, start, end, pad_first))


def project_windows(projection: AudioProjection, windows: torch.Tensor) -> torch.Tensor:
    """:func:`audio_windows`' windows [speakers, 4n + 1, 5, layers, C] → the audio tokens
    [1, n + 1, 32 x speakers, width] (computed in the windows' dtype)."""
    if windows.shape[-2] * windows.shape[-1] != projection.per_frame:
        raise ValueError(f"the audio encoder gives {windows.shape[-2]} layers of {windows.shape[-1]} values an audio "
                         f"frame; the patch reads {projection.per_frame} (ComfyUI's: chinese-wav2vec2-base, 12 x 768)")
    if (windows.shape[1] - 1) % VAE_SCALE:
        raise ValueError(f"{windows.shape[1]} video frames; the audio patch needs 4n + 1")
    first = windows[:, :1]
    later = windows[:, 1:].unflatten(1, (-1, VAE_SCALE))  # [S, n, 4, 5, L, C]
    middle = AUDIO_WINDOW // 2
    later = torch.cat([later[:, :, 0, :middle + 1], later[:, :, 1:-1, middle], later[:, :, -1, middle:]], dim=2)
    tokens = projection(first, later)  # [S, latent frames, 32, width]
    return torch.cat(tokens.split(1), dim=2)


# ---------------------------------------------------------------------------- tiny files

def tiny_state_dict(*, dim: int = 32, blocks: int = 2, audio_layers: int = 2, audio_channels: int = 32,
                    audio_dim: int = 16, intermediate: int = 24, seed: int = 0) -> dict[str, torch.Tensor]:
    """A random MultiTalk patch in ComfyUI's names, for a ``dim``-wide transformer of
    ``blocks`` blocks and a wav2vec encoder of ``audio_layers`` layers ``audio_channels`` wide."""
    g = torch.Generator().manual_seed(seed)
    sd: dict[str, torch.Tensor] = {}

    def linear(name: str, out: int, inp: int) -> None:
        sd[f"{name}.weight"] = torch.randn(out, inp, generator=g) / inp ** 0.5
        sd[f"{name}.bias"] = torch.randn(out, generator=g) * 0.05

    def norm(name: str, size: int) -> None:
        sd[f"{name}.weight"] = 1 + torch.randn(size, generator=g) * 0.05
        sd[f"{name}.bias"] = torch.randn(size, generator=g) * 0.05

    per_frame = audio_layers * audio_channels
    linear("audio_proj.proj1", intermediate, AUDIO_WINDOW * per_frame)
    linear("audio_proj.proj1_vf", intermediate, (AUDIO_WINDOW + VAE_SCALE - 1) * per_frame)
    linear("audio_proj.proj2", intermediate, intermediate)
    linear("audio_proj.proj3", CONTEXT_TOKENS * audio_dim, intermediate)
    norm("audio_proj.norm", audio_dim)
    for i in range(blocks):
        linear(f"blocks.{i}.audio_cross_attn.q_linear", dim, dim)
        linear(f"blocks.{i}.audio_cross_attn.kv_linear", 2 * dim, audio_dim)
        linear(f"blocks.{i}.audio_cross_attn.proj", dim, dim)
        norm(f"blocks.{i}.norm_x", dim)
    return sd


def write_tiny(path: str | Path, *, heads: int = 2, dtype: torch.dtype = torch.float16, seed: int = 0,
               **sizes: int) -> Path:
    from wfrun.models.tiny import write_state

    return write_state(path, tiny_state_dict(seed=seed, **sizes), dtype, {"wfrun.num_heads": str(heads)})
