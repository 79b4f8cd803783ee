"""The pack's frame arithmetic, as pure functions (tested against the formulas they state).

A Wan chunk has 4n+1 frames (the VAE keeps the first frame and packs each next 4 into one
latent). Chunks after the first start on the previous chunk's last frame, which is dropped,
so k chunks of N frames give N + (k-1)(N-1) frames.
"""

from __future__ import annotations

import math

#: The smallest chunk the pack allows after rounding down to 4n+1.
MIN_CHUNK_FRAMES = 5


def normalize_chunk_frames(chunk_frames: int) -> int:
    """Round down to 4n+1, at least 5 (the pack's rule for ``chunk_frames``)."""
    return max(((int(chunk_frames) - 1) // 4) * 4 + 1, MIN_CHUNK_FRAMES)


def frames_for_chunks(num_chunks: int, chunk_frames: int) -> int:
    """WanVideoChunkCalculator: the frames ``num_chunks`` chunks give with a 1-frame overlap."""
    n = normalize_chunk_frames(chunk_frames)
    return n if num_chunks <= 1 else n + (int(num_chunks) - 1) * (n - 1)


def chunks_for_frames(total_frames: int, chunk_frames: int) -> int:
    """How many chunks the sampler plans for ``total_frames`` (``chunk_frames`` normalised)."""
    if total_frames <= chunk_frames:
        return 1
    return 1 + math.ceil((total_frames - chunk_frames) / max(1, chunk_frames - 1))


def flf_last_chunk(chunk_frames: int, end_blend_chunks: int, num_chunks: int, has_end_image: bool) -> tuple[int, int]:
    """(crossfade frames, last chunk's frames) in first-last-frame mode: the crossfade is at
    most half a chunk, and the last chunk grows to the next 4n+1 that holds the overlap."""
    if not has_end_image or end_blend_chunks <= 0 or num_chunks <= 1:
        return 0, chunk_frames
    crossfade = min(int(end_blend_chunks), (chunk_frames - 1) // 2)
    needed = chunk_frames + crossfade
    return crossfade, 4 * ((needed + 2) // 4) + 1


def extract_range(total: int, chunk_index: int, chunk_frames: int, overlap_frames: int) -> tuple[int, int, int, bool]:
    """ExtractVideoChunk: (start, end, total chunks, is last) of chunk ``chunk_index``; the
    last chunk slides back to stay full length where the video allows."""
    stride = chunk_frames - overlap_frames
    chunks = 1 if total <= chunk_frames else 1 + math.ceil((total - chunk_frames) / stride)
    start = chunk_index * stride
    end = start + chunk_frames
    if end > total:
        end = total
        start = max(0, end - chunk_frames)
    return start, end, chunks, chunk_index >= chunks - 1
