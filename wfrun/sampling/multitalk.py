"""MultiTalk / InfiniteTalk audio in the wrapper's sampler (ComfyUI-WanVideoWrapper
``nodes.py`` ``predict_with_cfg`` and ``wanvideo/modules/model.py``, 2025-07), on the audio
patch of :mod:`wfrun.models.multitalk` and the block hooks of :mod:`wfrun.sampling.infinitetalk`.

What the pack does with ``multitalk_embeds`` in each model call:

- cuts each speaker's wav2vec features (one row per video frame) into the window of 5
  frames around every video frame of the call (indices clamped to the audio: past its end
  the last row repeats; ComfyUI's core pads with the first row instead), for pixel frames
  ``0 .. 4 (F - 1)`` of a video of ``F`` latent frames, or ``4 w0 .. 4 w_last`` of a context
  window (:meth:`MultiTalkAudio.frames_of`);
- projects them into 32 tokens per latent frame and speaker (``audio_proj``, in the model's
  compute dtype), the speakers' tokens side by side;
- adds ``audio_scale x audio_cross_attn(norm_x(x))`` after every block's text
  cross-attention (``norm_x`` with the transformer's epsilon, 1e-6); with several speakers
  and ``ref_target_masks`` the video tokens get rotary positions from the block's reference
  map (:func:`wfrun.models.multitalk.speaker_positions`: two speakers at the ends of the
  range, three or four side by side, a mask past the speakers' a background).
- audio CFG (``audio_cfg_scale`` not 1, with cfg not 1): the uncond call keeps the audio,
  one more call with the *negative* prompt and the windows of one silent speaker (zeros
  through the projection) makes ``no_audio + cfg (cond - uncond) + audio_cfg (uncond -
  no_audio)`` (:func:`multitalk_guidance`).

The windows are projected once per window of the video (the pack projects them again in
every call: the same numbers).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field, replace
from typing import Any, Iterator, Sequence

import torch
import torch.nn.functional as F

from wfrun.models.multitalk import AUDIO_WINDOW, VAE_SCALE, audio_windows, project_windows
from wfrun.sampling.infinitetalk import audio_attention

#: The wrapper builds the blocks' ``norm_x`` with the transformer's epsilon.
NORM_EPS = 1e-6


def two_speaker_masks(height: int, width: int) -> torch.Tensor:
    """The masks the wrapper's long-video loop makes for two speakers given without
    ``ref_target_masks`` (kijai, 2025-08-19): ``[3, height, width]`` in pixels, speaker 1 in
    the left half and speaker 2 in the right half, each the middle 80 % of its half's width
    and of the height (edges ``int(size·0.1)`` to ``int(size·0.9)``, the right half's shifted
    by ``width // 2``), and a background mask of 1 wherever neither speaker is."""
    half = width // 2
    top, bottom = int(height * 0.1), int(height * 0.9)
    masks = torch.zeros(3, height, width)
    masks[0, top:bottom, int(half * 0.1):int(half * 0.9)] = 1
    masks[1, top:bottom, int(half * 0.1 + half):int(half * 0.9 + half)] = 1
    masks[2] = ((masks[0] + masks[1]) == 0).float()
    return masks


def token_masks(masks: torch.Tensor, lat_h: int, lat_w: int) -> torch.Tensor:
    """``ref_target_masks`` [classes, H, W] (pixels) → the first latent frame's tokens each
    covers [classes, lat_h/2 x lat_w/2] (bool): nearest-neighbour resize to the token grid,
    then ``> 0``, as the pack's model does."""
    if masks.ndim == 2:
        masks = masks[None]
    small = F.interpolate(masks[None].float(), size=(lat_h // 2, lat_w // 2), mode="nearest")[0]
    return (small > 0).reshape(small.shape[0], -1)


@dataclass
class MultiTalkAudio:
    """The running audio of a wrapper sampling pass: the patch, each speaker's features
    ``[frames, layers, C]``, the pixel frame the video (or the long video's window) starts
    at, ``scale``, the audio CFG per step (``cfg``), token masks, the compute dtype, and
    the token cache."""

    module: Any
    features: tuple[torch.Tensor, ...]
    scale: float = 1.0
    cfg: Sequence[float] = ()
    masks: torch.Tensor | None = None
    dtype: torch.dtype = torch.float32
    start: int = 0
    latent_frames: Sequence[int] | None = None  # the latent frames of this call (a context window)
    silent: bool = False
    _tokens: dict = field(default_factory=dict, repr=False)

    @property
    def speakers(self) -> int:
        return 1 if self.silent else len(self.features)

    @property
    def frames(self) -> int:
        """Latent frames the audio covers (the pack reads past the end by clamping)."""
        return (self.features[0].shape[0] - 1) // VAE_SCALE + 1

    def frames_of(self, window: Sequence[int]) -> "MultiTalkAudio":
        """The audio of a context window's latent frames."""
        window = [int(w) for w in window]
        if window != list(range(window[0], window[0] + len(window))):
            raise ValueError(f"a context window of latent frames {window} wraps around the video; MultiTalk's audio "
                             "windows need consecutive frames")
        return replace(self, latent_frames=tuple(window), _tokens=self._tokens)

    def without_audio(self) -> "MultiTalkAudio":
        """The audio CFG's no-audio call: one speaker's windows of zeros."""
        return replace(self, silent=True, _tokens=self._tokens)

    def pixel_range(self, latent_frames: int) -> tuple[int, int]:
        """The pixel frames ``start .. end - 1`` of a call over ``latent_frames`` frames."""
        first = self.latent_frames[0] if self.latent_frames is not None else 0
        start = self.start + VAE_SCALE * first
        return start, start + VAE_SCALE * (latent_frames - 1) + 1

    def tokens(self, latent_frames: int, device: Any) -> torch.Tensor:
        """``[1, latent_frames, 32 x speakers, width]`` in the compute dtype."""
        start, end = self.pixel_range(latent_frames)
        key = (start, end, self.silent)
        cached = self._tokens.get(key)
        if cached is None:
            windows = audio_windows(list(self.features), start, end, pad_first=False)
            if self.silent:
                windows = torch.zeros_like(windows[-1:])
            projection = self.module.audio_proj
            cached = project_windows(projection, windows.to(device, self.dtype)).to(self.dtype)
            self._tokens[key] = cached
        return cached.to(device)


class _CallAudio:
    """What the block hooks read in one call: tokens, scale, speakers."""

    def __init__(self, audio: MultiTalkAudio, tokens: torch.Tensor):
        self.audio = tokens
        self.scale = audio.scale
        self.speakers = audio.speakers


def multitalk_guidance(cond: torch.Tensor, uncond: torch.Tensor, no_audio: torch.Tensor, cfg_scale: float,
                       audio_cfg: float) -> torch.Tensor:
    """MultiTalk's audio CFG in the wrapper: ``no_audio + cfg (cond - uncond) + audio_cfg
    (uncond - no_audio)``, where ``uncond`` has the audio and ``no_audio`` the negative
    prompt without it."""
    return no_audio + cfg_scale * (cond - uncond) + audio_cfg * (uncond - no_audio)


def needs_audio_cfg(audio: Any, idx: int) -> bool:
    return audio is not None and not math.isclose(float(audio.cfg[idx]), 1.0)


@contextlib.contextmanager
def multitalk_pass(transformer: Any, audio: MultiTalkAudio | None) -> Iterator[None]:
    """The patch's hooks on ``transformer`` for one pass: each call's audio is the
    :class:`MultiTalkAudio` in its ``ForwardOptions.audio`` (none: a call without audio)."""
    if audio is None:
        yield
        return
    from wfrun.sampling.hooks import active_pass

    grid: dict = {}

    def source() -> Any:
        sampling = active_pass(transformer)
        call = sampling.call if sampling is not None else None
        current = getattr(call, "audio", None)
        if not isinstance(current, MultiTalkAudio):
            return None
        if grid.get("call") is not call:  # one projection per call, read by every block (held: no id reuse)
            grid["call"], grid["value"] = call, None
        if grid["value"] is None:
            frames = _latent_frames(transformer)
            grid["value"] = _CallAudio(current, current.tokens(frames, _device(transformer)))
        return grid["value"]

    with audio_attention(transformer, audio, source=source, eps=NORM_EPS):
        yield


def _latent_frames(transformer: Any) -> int:
    from wfrun.models import module_hooks
    from wfrun.sampling.infinitetalk import GRID

    hook = module_hooks.find(transformer.patch_embedding, GRID)
    if hook is None or hook.grid is None:
        raise RuntimeError("MultiTalk's audio was asked for outside a transformer forward")
    return int(hook.grid[0])


def _device(transformer: Any) -> torch.device:
    return next(transformer.patch_embedding.parameters()).device


__all__ = ["AUDIO_WINDOW", "MultiTalkAudio", "multitalk_guidance", "multitalk_pass", "needs_audio_cfg", "token_masks"]
