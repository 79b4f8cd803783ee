"""The pack's IMAGE and LATENT utilities (``nodes.py``): pick, cut, join and crossfade chunks.

Each follows the pack's arithmetic exactly, including its clamping of out-of-range indices;
the pack's ``ValueError`` for an overlap that leaves nothing is a NodeInputError here.
"""

from __future__ import annotations

from typing import Any

import torch

from wfrun.nodes.executor import ExecContext, NodeInputError, executor

from .plan import extract_range

#: Steepness of the pack's sigmoid crossfades: pixels and latents use different ones.
IMAGE_SIGMOID_GAIN = 12.0
LATENT_SIGMOID_GAIN = 10.0


def _frames(name: str, value: Any) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.ndim != 4:
        raise NodeInputError(name, f"expected an IMAGE batch [frames, height, width, channels], "
                             f"got {getattr(value, 'shape', type(value).__name__)}")
    if value.shape[0] == 0:
        raise NodeInputError(name, "the image batch is empty")
    return value


def blend_weights(n: int, curve: str, *, sigmoid_gain: float, dtype: torch.dtype = torch.float32,
                  device: Any = None) -> torch.Tensor:
    """Weights of B across an overlap of ``n`` frames (0 = all A, 1 = all B)."""
    t = torch.linspace(0.0, 1.0, n, dtype=dtype, device=device)
    if curve == "ease_in_out":
        return t * t * (3.0 - 2.0 * t)
    if curve == "sigmoid":
        s = torch.sigmoid((t - 0.5) * sigmoid_gain)
        return (s - s[0]) / (s[-1] - s[0])
    if curve == "linear":
        return t
    raise NodeInputError("blend_curve", f"unknown blend curve {curve!r}")


@executor("BlendVideoChunks")
def blend_video_chunks(ctx: ExecContext, chunk_a: torch.Tensor, chunk_b: torch.Tensor, overlap_frames: int,
                       blend_curve: str, **_: Any) -> tuple:
    a, b = _frames("chunk_a", chunk_a), _frames("chunk_b", chunk_b)
    n = int(overlap_frames)
    for name, clip in (("chunk_a", a), ("chunk_b", b)):
        if n >= clip.shape[0]:
            raise NodeInputError("overlap_frames", f"overlap_frames ({n}) must be less than {name}'s "
                                 f"{clip.shape[0]} frames")
    if a.shape[1:] != b.shape[1:]:
        raise NodeInputError("chunk_b", f"frame size {tuple(b.shape[1:])} differs from chunk_a's {tuple(a.shape[1:])}")
    w = blend_weights(n, blend_curve, sigmoid_gain=IMAGE_SIGMOID_GAIN, dtype=a.dtype, device=a.device).view(-1, 1, 1, 1)
    mixed = a[a.shape[0] - n:] * (1.0 - w) + b[:n] * w
    video = torch.cat([a[:a.shape[0] - n], mixed, b[n:]], dim=0)
    return (video, int(video.shape[0]))


@executor("ConcatVideoChunks")
def concat_video_chunks(ctx: ExecContext, chunk_a: torch.Tensor, chunk_b: torch.Tensor, trim_b_start: int,
                        **_: Any) -> tuple:
    a, b = _frames("chunk_a", chunk_a), _frames("chunk_b", chunk_b)
    if trim_b_start > 0:
        b = b[int(trim_b_start):]
    if b.shape[0] == 0:
        return (a, int(a.shape[0]))
    if a.shape[1:] != b.shape[1:]:
        raise NodeInputError("chunk_b", f"frame size {tuple(b.shape[1:])} differs from chunk_a's {tuple(a.shape[1:])}")
    video = torch.cat([a, b], dim=0)
    return (video, int(video.shape[0]))


@executor("ExtractVideoChunk")
def extract_video_chunk(ctx: ExecContext, images: torch.Tensor, chunk_index: int, chunk_frames: int,
                        overlap_frames: int, **_: Any) -> tuple:
    video = _frames("images", images)
    if overlap_frames >= chunk_frames:
        raise NodeInputError("overlap_frames", f"overlap_frames ({overlap_frames}) must be less than "
                             f"chunk_frames ({chunk_frames})")
    start, end, chunks, last = extract_range(int(video.shape[0]), int(chunk_index), int(chunk_frames),
                                             int(overlap_frames))
    return (video[start:end], chunks, int(chunk_index), last)


@executor("GetFrameByIndex")
def get_frame_by_index(ctx: ExecContext, images: torch.Tensor, index: int, **_: Any) -> tuple:
    video = _frames("images", images)
    total = int(video.shape[0])
    i = total + int(index) if index < 0 else int(index)
    i = max(0, min(i, total - 1))  # the pack clamps instead of failing
    return (video[i:i + 1],)


@executor("GetFrameRange")
def get_frame_range(ctx: ExecContext, images: torch.Tensor, start: int, end: int, **_: Any) -> tuple:
    video = _frames("images", images)
    total = int(video.shape[0])
    s = total + int(start) if start < 0 else int(start)
    s = max(0, min(s, total - 1))
    e = total if end == 0 else total + int(end) if end < 0 else int(end)  # 0 = to the end
    e = max(s + 1, min(e, total))
    frames = video[s:e]
    return (frames, int(frames.shape[0]))


@executor("VideoChunkPlanner")
def video_chunk_planner(ctx: ExecContext, total_frames: int, chunk_frames: int, overlap_frames: int,
                        **_: Any) -> tuple:
    """The pack's plan text, line for line (its step numbering included)."""
    if overlap_frames >= chunk_frames:
        raise NodeInputError("overlap_frames", f"overlap_frames ({overlap_frames}) must be less than "
                             f"chunk_frames ({chunk_frames})")
    total, size, overlap = int(total_frames), int(chunk_frames), int(overlap_frames)
    _s, _e, chunks, _l = extract_range(total, 0, size, overlap)
    lines = ["=== Video Chunk Plan ===", f"Source video: {total} frames", f"Chunk size: {size} frames",
             f"Overlap: {overlap} frames", f"Stride: {size - overlap} frames", f"Total chunks needed: {chunks}",
             f"Output video length: ~{total} frames", "", "--- Chunk Layout ---"]
    for i in range(chunks):
        s, e, _c, _l = extract_range(total, i, size, overlap)
        ref = "original reference" if i == 0 else f"last frame of chunk {i - 1}"
        lines.append(f"  Chunk {i}: frames {s:>4d}-{e - 1:>4d} ({e - s} frames) | ref: {ref}")
    lines += ["", "--- Workflow Steps ---", f"1. Load driving video ({total} frames)"]
    for i in range(chunks):
        if i == 0:
            lines.append("2. ExtractVideoChunk(index=0) → Generate with original reference")
        else:
            lines.append(f"{2 + i}. GetFrameByIndex(chunk_{i - 1}, -1) → New reference → "
                         f"ExtractVideoChunk(index={i}) → Generate")
    lines.append(f"{2 + chunks}. Chain BlendVideoChunks for each pair")
    return (chunks, "\n".join(lines))


def slerp_frame(t: float, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation of two latent frames taken as one flat vector each (the
    pack's ``_slerp_frame``); nearly parallel frames fall back to a straight blend."""
    af, bf = a.flatten().float(), b.flatten().float()
    cos = (torch.nn.functional.normalize(af, dim=0) * torch.nn.functional.normalize(bf, dim=0)).sum().clamp(-1.0, 1.0)
    omega = torch.acos(cos)
    if omega.abs() < 1e-5:
        return (a.float() * (1.0 - t) + b.float() * t).to(a.dtype)
    wa = torch.sin((1.0 - t) * omega) / torch.sin(omega)
    wb = torch.sin(t * omega) / torch.sin(omega)
    return (a.float() * wa + b.float() * wb).to(a.dtype)


@executor("BlendLatentChunks")
def blend_latent_chunks(ctx: ExecContext, latent_a: dict, latent_b: dict, overlap_frames: int, blend_curve: str,
                        **_: Any) -> tuple:
    for name, lat in (("latent_a", latent_a), ("latent_b", latent_b)):
        if not isinstance(lat, dict) or not isinstance(lat.get("samples"), torch.Tensor) or lat["samples"].ndim != 5:
            raise NodeInputError(name, "expected a video LATENT [batch, channels, frames, height, width]")
    a, b = latent_a["samples"], latent_b["samples"]
    n = min(int(overlap_frames), a.shape[2], b.shape[2])
    a_over, b_over = a[:, :, a.shape[2] - n:], b[:, :, :n]
    if blend_curve == "hard_cut":
        mid = n // 2
        mixed = torch.cat([a_over[:, :, :mid], b_over[:, :, mid:]], dim=2)
    elif blend_curve == "slerp":
        mixed = torch.stack([slerp_frame(i / max(n - 1, 1), a_over[:, :, i], b_over[:, :, i]) for i in range(n)],
                            dim=2)
    else:
        w = blend_weights(n, blend_curve, sigmoid_gain=LATENT_SIGMOID_GAIN, dtype=a.dtype, device=a.device)
        mixed = a_over * (1.0 - w.view(1, 1, -1, 1, 1)) + b_over * w.view(1, 1, -1, 1, 1)
    samples = torch.cat([a[:, :, :a.shape[2] - n], mixed, b[:, :, n:]], dim=2)
    out = {k: v for k, v in latent_a.items() if k != "samples"}
    out["samples"] = samples
    return (out, int(samples.shape[2]))
