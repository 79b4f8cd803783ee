"""``GeekyAudioMixer``: up to four AUDIO tracks placed on a stereo timeline of
``output_duration`` seconds at ``sample_rate``, then master gain, normalisation, compression
and a soft limiter, as audio_mixer_node.py does (read at 98f408b and 7882a8e; the saved
files' e516d4e could not be read, see below).

Per track (``audio_2..4`` only when connected): the first item of the batch; mono doubled to
stereo, more than two channels cut to the first two (a 2-D waveform longer in its first
axis is taken as [samples, channels]); resampled to ``sample_rate`` with the Hann-windowed
sinc of torchaudio (``wfrun.media.audio.resample``) when the rates differ by more than
100 Hz; times its volume; faded in and out linearly (each fade at most half the track);
added onto the timeline from ``int(start_time * rate)``, what falls past the end dropped.

Then, on the mix: ``pre_gain_boost`` (when not 1), ``master_volume``; ``normalization_mode``
``prevent_clipping`` scales a peak above 0.99 to 0.95, ``full_normalize`` any peak to 0.95,
``smart_normalize`` lifts a mix whose RMS is under 0.03 towards RMS 0.1 without its peak
passing 0.9; ``compression_ratio`` above 1 divides what exceeds 0.7 in magnitude by the
ratio; ``limiter_threshold`` above -20 dB applies ``tanh(x / t) * t`` (``t`` the
threshold as a linear gain); a result still above 1.0 in magnitude is clamped to ±0.99.
``total_duration`` is the timeline's length in seconds; ``level_meters`` the per-channel
RMS and peak in dB (``20 log10(x + 1e-10)``) and ``stereo_balance`` (``centered`` when the
RMS differ by under 3 dB), as JSON.

Differences, all said: ``mix_info`` holds the pack's keys with wfrun's own wording of the
processing steps; where the pack catches any error and returns 10-ish seconds of silence
(or silently skips a track it cannot read), wfrun stops with an error naming the input.
``output_format`` changes nothing in the pack's result and is only recorded. The
repository's two readable versions differ when a track reaches past the timeline's end:
7882a8e cuts it to the time left *before* fading (its fade-out then ends at the timeline's
end), 98f408b fades the whole track and drops its overhang; the saved version is neither
readable nor datable here, so that case is refused, naming the track's start time.
"""

from __future__ import annotations

import json
from typing import Any

import torch

from wfrun.media.audio import resample
from wfrun.nodes.executor import ExecContext, NodeInputError, executor

MODES = ("off", "prevent_clipping", "full_normalize", "smart_normalize")


def _db(x: torch.Tensor) -> torch.Tensor:
    return 20 * torch.log10(x + 1e-10)


def _stereo(audio: Any, name: str) -> tuple[torch.Tensor, float]:
    waveform = audio.get("waveform") if isinstance(audio, dict) else None
    rate = audio.get("sample_rate") if isinstance(audio, dict) else None
    if not isinstance(waveform, torch.Tensor) or waveform.ndim not in (1, 2, 3) or not isinstance(rate, (int, float)) \
            or rate <= 0 or waveform.shape[-1] == 0:
        raise NodeInputError(name, "expected an AUDIO (a waveform and its sample_rate) with samples")
    data = waveform.detach().cpu().float()
    if data.ndim == 3:
        data = data[0]
    elif data.ndim == 1:
        data = data.unsqueeze(0)
    elif data.shape[0] > data.shape[1]:
        data = data.transpose(0, 1)
    if data.shape[0] == 1:
        data = data.repeat(2, 1)
    elif data.shape[0] > 2:
        data = data[:2, :]
    return data, rate


def fades(data: torch.Tensor, fade_in: float, fade_out: float, rate: int) -> torch.Tensor:
    length = data.shape[1]
    if fade_in > 0:
        n = min(int(fade_in * rate), length // 2)
        if n > 0:
            data[:, :n] *= torch.linspace(0, 1, n).unsqueeze(0)
    if fade_out > 0:
        n = min(int(fade_out * rate), length // 2)
        if n > 0:
            data[:, -n:] *= torch.linspace(1, 0, n).unsqueeze(0)
    return data


def track(audio: Any, n: int, volume: float, start: float, fade_in: float, fade_out: float, rate: int,
          duration: float) -> torch.Tensor:
    data, original = _stereo(audio, f"audio_{n}")
    if abs(original - rate) > 100:
        data = resample(data, int(original), int(rate))
    if data.shape[1] / rate > max(0.0, duration - start):
        raise NodeInputError(f"audio_{n}_start_time", f"audio_{n} ({data.shape[1] / rate:.3f} s from "
                             f"{start} s) reaches past the {duration} s timeline; the pack's versions differ on "
                             "how such a track is cut and faded, and the saved one cannot be told",
                             "lengthen output_duration to hold the whole track")
    data = data * volume
    return fades(data, fade_in, fade_out, rate)


def normalise(mix: torch.Tensor, mode: str) -> tuple[torch.Tensor, str]:
    if mode == "prevent_clipping":
        peak = torch.max(torch.abs(mix))
        if peak > 0.99:
            return mix * (0.95 / peak), f"scaled by {float(0.95 / peak):.3f} to keep the peak under 1"
        return mix, "no scaling needed"
    if mode == "full_normalize":
        peak = torch.max(torch.abs(mix))
        if peak > 0:
            return mix * (0.95 / peak), f"peak scaled to 0.95 (x{float(0.95 / peak):.3f})"
        return mix, "silent: unchanged"
    if mode == "smart_normalize":
        rms, peak = torch.sqrt(torch.mean(mix ** 2)), torch.max(torch.abs(mix))
        if rms < 0.03:
            scale = min(0.1 / rms, 0.9 / peak if peak > 0 else 1.0)
            return mix * scale, f"quiet mix lifted x{float(scale):.3f}"
        return mix, "loud enough: unchanged"
    return mix, "off"


def compress(mix: torch.Tensor, ratio: float, threshold: float = 0.7) -> torch.Tensor:
    envelope = torch.abs(mix)
    out = mix.clone()
    above = envelope > threshold
    if torch.any(above):
        out[above] *= (threshold + (envelope[above] - threshold) / ratio) / envelope[above]
    return out


def meters(mix: torch.Tensor) -> str:
    rms = [torch.sqrt(torch.mean(mix[0, c] ** 2)) for c in (0, 1)]
    peak = [torch.max(torch.abs(mix[0, c])) for c in (0, 1)]
    left, right = _db(rms[0]), _db(rms[1])
    return json.dumps({"rms_left_db": float(left), "rms_right_db": float(right), "peak_left_db": float(_db(peak[0])),
                       "peak_right_db": float(_db(peak[1])),
                       "stereo_balance": "centered" if abs(left - right) < 3 else "unbalanced"}, indent=2)


@executor("GeekyAudioMixer")
def geeky_audio_mixer(ctx: ExecContext, audio_1: Any, output_duration: float, output_format: str, sample_rate: int,
                      master_volume: float, normalization_mode: str, compression_ratio: float,
                      limiter_threshold: float, pre_gain_boost: float, **inputs: Any) -> tuple:
    rate, duration = int(sample_rate), float(output_duration)
    if rate <= 0 or duration <= 0:
        raise NodeInputError("sample_rate" if rate <= 0 else "output_duration", "must be positive")
    if normalization_mode not in MODES:
        raise NodeInputError("normalization_mode", f"unknown mode {normalization_mode!r}", f"use one of {', '.join(MODES)}")
    steps: list[str] = []
    samples = int(duration * rate)
    mix = torch.zeros(1, 2, samples, dtype=torch.float32)
    for n in range(1, 5):
        audio = audio_1 if n == 1 else inputs.get(f"audio_{n}")
        if audio is None:
            continue
        start = float(inputs[f"audio_{n}_start_time"])
        data = track(audio, n, float(inputs[f"audio_{n}_volume"]), start, float(inputs[f"audio_{n}_fade_in"]),
                     float(inputs[f"audio_{n}_fade_out"]), rate, duration)
        first, end = int(start * rate), int(start * rate) + data.shape[1]
        if first < samples and end > 0:
            lo, hi = max(0, first), min(samples, end)
            offset = max(0, -first)
            mix[0, :, lo:hi] += data[:, offset:offset + (hi - lo)]
        steps.append(f"audio_{n}: volume {inputs[f'audio_{n}_volume']}, from {start} s")
    if pre_gain_boost != 1.0:
        mix = mix * pre_gain_boost
        steps.append(f"pre-gain x{pre_gain_boost}")
    mix = mix * master_volume
    steps.append(f"master volume x{master_volume}")
    mix, said = normalise(mix, normalization_mode)
    steps.append(f"normalisation ({normalization_mode}): {said}")
    if compression_ratio > 1.0:
        mix = compress(mix, float(compression_ratio))
        steps.append(f"compression ratio {compression_ratio}")
    if limiter_threshold > -20.0:
        t = 10 ** (limiter_threshold / 20)
        mix = torch.tanh(mix / t) * t
        steps.append(f"limiter at {limiter_threshold} dB")
    rms, peak = torch.sqrt(torch.mean(mix ** 2)), torch.max(torch.abs(mix))
    levels = meters(mix)
    total = mix.shape[2] / rate
    if torch.max(torch.abs(mix)) > 1.0:
        mix = torch.clamp(mix, -0.99, 0.99)
        steps.append("clamped to +-0.99 (levels above 1.0)")
    info = {"tracks_loaded": sum(1 for n in range(1, 5) if (audio_1 if n == 1 else inputs.get(f"audio_{n}")) is not None),
            "processing_steps": steps, "warnings": [],
            "final_levels": {"rms": float(rms), "peak": float(peak), "rms_db": float(_db(rms)), "peak_db": float(_db(peak))},
            "sample_rate": rate, "format": output_format, "duration": total, "channels": mix.shape[1],
            "master_volume": master_volume, "pre_gain_boost": pre_gain_boost, "normalization_mode": normalization_mode}
    return ({"waveform": mix, "sample_rate": rate}, json.dumps(info, indent=2), total, levels)
