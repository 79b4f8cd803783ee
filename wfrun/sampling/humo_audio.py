"""HuMo's audio features: Whisper hidden states → per-frame layer groups → one window of
feature frames per latent frame, as ComfyUI's ``WanHuMoImageToVideo`` and the wrapper's
``HuMoEmbeds`` (and the official ``humo/generate.py``) make them.

- :func:`layer_groups`: Whisper large-v3's 33 hidden states at 50 a second (each layer's
  input, then the output) become five groups — the means of states 0-7, 8-15, 16-23 and
  24-31, and state 32 — each resampled linearly with the end points kept to 25 a second
  (``int(T / 50 x 25)`` steps; ComfyUI's ``linear_interpolation``), so one feature frame per
  video frame at 25 fps. Only the first ``2 x (samples // 640)`` states are kept (640 samples
  at 16 kHz: one 25 fps frame; Whisper pads to 30 s).
- :func:`audio_windows` (ComfyUI's ``get_audio_emb_window`` with ``frame0_idx`` the first
  frame and ``audio_shift`` 2): latent frame 0 sees three zero frames and frames -2 … 2;
  latent frame ``i ≥ 1`` (video frames ``4i - 3 … 4i``) sees frames ``4i - 5 … 4i + 2``.
  Frames outside the sound are zeros.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from wfrun.models.families.wan_transformer import HUMO_AUDIO_GROUPS, HUMO_AUDIO_WINDOW

#: Whisper's rate (hidden states a second), the video's (frames a second), 16 kHz samples a video frame.
WHISPER_RATE, VIDEO_FPS, SAMPLES_PER_FRAME = 50, 25, 640
#: The hidden states a group averages (Whisper large-v3: 32 layers, so 33 states).
GROUP_SPAN = 8
HIDDEN_STATES = GROUP_SPAN * (HUMO_AUDIO_GROUPS - 1) + 1
#: Frames each side of a window's centre (``audio_shift``) and zero frames before frame 0's.
SHIFT, LEAD_ZEROS = 2, 3


def resample_linear(x: torch.Tensor, rate_in: int = WHISPER_RATE, rate_out: int = VIDEO_FPS) -> torch.Tensor:
    """``[B, T, C]`` → ``[B, int(T / rate_in x rate_out), C]``, linear with the ends kept."""
    steps = int(x.shape[1] / float(rate_in) * rate_out)
    if steps < 1:
        raise ValueError(f"{x.shape[1]} Whisper states are shorter than one video frame")
    return F.interpolate(x.transpose(1, 2), size=steps, mode="linear", align_corners=True).transpose(1, 2)


def layer_groups(hidden: torch.Tensor, samples: int) -> torch.Tensor:
    """``[B, T, 33, C]`` stacked hidden states of ``samples`` 16 kHz samples → ``[B, T', 5, C]``."""
    if hidden.shape[2] != HIDDEN_STATES:
        raise ValueError(f"HuMo reads the {HIDDEN_STATES} hidden states of a 32-layer Whisper encoder "
                         f"(large-v3); these features have {hidden.shape[2]}")
    hidden = hidden[:, :int(samples) // SAMPLES_PER_FRAME * 2].float()
    groups = [hidden[:, :, g * GROUP_SPAN:(g + 1) * GROUP_SPAN].mean(dim=2) for g in range(HUMO_AUDIO_GROUPS - 1)]
    groups.append(hidden[:, :, HIDDEN_STATES - 1])
    return torch.stack([resample_linear(g) for g in groups], dim=2)


def window_frames(latent_frames: int, first: int = 0) -> list[list[int]]:
    """The feature frames each latent frame's window reads (-1: a lead zero)."""
    out = [[-1] * LEAD_ZEROS + list(range(first - SHIFT, first + SHIFT + 1))]
    for i in range(1, latent_frames):
        start = first + 1 + 4 * (i - 1) - SHIFT
        out.append(list(range(start, start + HUMO_AUDIO_WINDOW)))
    return out


def audio_windows(features: torch.Tensor, length: int, first: int = 0) -> torch.Tensor:
    """``[T, 5, C]`` per-frame features → ``[(length - 1) // 4 + 1, 8, 5, C]`` windows."""
    zero = features.new_zeros(features.shape[1:])
    rows = []
    for frames in window_frames((int(length) - 1) // 4 + 1, first):
        rows.append(torch.stack([features[f] if 0 <= f < features.shape[0] else zero for f in frames]))
    return torch.stack(rows)
