"""Motion tracks as the nodes receive them: JSON text of ``{"x", "y"}`` points (from KJNodes'
SplineEditor, or typed in), one track, a list of tracks, or a list of such texts (KJNodes'
AppendStringsToList). Shared by ComfyUI's ``WanTrackToVideo``/``WanMoveTracksFromCoords`` and
the wrapper's ATI nodes, which all read them with the same ``parse_json_tracks``.

The packs' reading, kept: single quotes are turned into double quotes first (Python-style
text parses); a text holding one track (a list of points) is one track; a text holding a
list of tracks gives them all; a list of texts gives one entry per text. Parsed with the
``json`` module only, with limits on size and counts. Where the packs print a warning and go
on with nothing (text that is not JSON), wfrun stops with an error naming the input."""

from __future__ import annotations

import json
import math
from typing import Any

import torch

from wfrun.nodes.executor import NodeInputError

MAX_TEXT = 8 << 20
MAX_TRACKS = 4096
MAX_POINTS = 100_000

Track = list[tuple[float, float]]


def _load(text: Any, input_name: str) -> Any:
    if not isinstance(text, str):
        raise NodeInputError(input_name, f"expected track text (JSON), got {type(text).__name__}")
    if len(text) > MAX_TEXT:
        raise NodeInputError(input_name, f"{len(text)} characters of tracks; at most {MAX_TEXT}")
    try:
        return json.loads(text.replace("'", '"'))
    except ValueError as err:
        raise NodeInputError(input_name, f"the tracks are not valid JSON ({err}): {text[:60]!r}",
                             'give [{"x": .., "y": ..}, ...] for one track or a list of such lists') from None


def _is_point(item: Any) -> bool:
    return isinstance(item, dict) and "x" in item


def _track(items: Any, input_name: str) -> Track:
    if not isinstance(items, list) or not all(_is_point(p) for p in items):
        raise NodeInputError(input_name, f"expected a track: a list of {{'x': .., 'y': ..}} points, got "
                             f"{json.dumps(items)[:80]}")
    if len(items) > MAX_POINTS:
        raise NodeInputError(input_name, f"a track of {len(items)} points; at most {MAX_POINTS}")
    out = []
    for p in items:
        x, y = p.get("x"), p.get("y")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (x, y)):
            raise NodeInputError(input_name, f"a track point needs numbers x and y, got {json.dumps(p)[:80]}")
        out.append((float(x), float(y)))
    return out


def _entries(tracks: Any, input_name: str) -> list:
    """The packs' first step: a text's top-level items, or one parsed value per text."""
    if isinstance(tracks, str):
        parsed = _load(tracks, input_name)
        if not isinstance(parsed, list):
            raise NodeInputError(input_name, f"expected a JSON list of points or of tracks, got "
                                 f"{type(parsed).__name__}")
        return parsed
    if isinstance(tracks, (list, tuple)):
        if len(tracks) > MAX_TRACKS:
            raise NodeInputError(input_name, f"{len(tracks)} track texts; at most {MAX_TRACKS}")
        return [_load(t, input_name) for t in tracks]
    raise NodeInputError(input_name, f"expected track text (JSON) or a list of texts, got {type(tracks).__name__}")


def parse_tracks(tracks: Any, input_name: str = "tracks") -> list[Track]:
    """The tracks of ``tracks`` (see the module docs); ``[]`` for an empty list."""
    entries = _entries(tracks, input_name)
    if entries and _is_point(entries[0]):
        entries = [entries]
    if len(entries) > MAX_TRACKS:
        raise NodeInputError(input_name, f"{len(entries)} tracks; at most {MAX_TRACKS}")
    return [_track(e, input_name) for e in entries]


def parse_track_batches(tracks: Any, input_name: str = "tracks") -> list[list[Track]]:
    """Tracks per batch item, as ComfyUI's ``WanTrackToVideo`` reads them: a list of tracks is
    one batch item; a list of lists of tracks is one item each. ``[]`` when empty."""
    entries = _entries(tracks, input_name)
    if not entries:
        return []
    if _is_point(entries[0]):
        entries = [entries]
    if isinstance(entries[0], list) and entries[0] and _is_point(entries[0][0]):
        entries = [entries]
    if len(entries) > MAX_TRACKS:
        raise NodeInputError(input_name, f"{len(entries)} batches of tracks; at most {MAX_TRACKS}")
    out = []
    for batch in entries:
        if not isinstance(batch, list) or not batch:
            raise NodeInputError(input_name, f"expected a list of tracks per batch item, got {json.dumps(batch)[:80]}")
        if len(batch) > MAX_TRACKS:
            raise NodeInputError(input_name, f"{len(batch)} tracks; at most {MAX_TRACKS}")
        out.append([_track(t, input_name) for t in batch])
    return out


# --- TRACKS values (ComfyUI's Wan-Move dict, the wrapper's too) ---------------------------

def tracks_value(tracks: Any, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``track_path`` ``[frames, tracks, 2]`` and ``track_visibility`` (``[frames, tracks]``
    or ``[frames, 1]``; all visible when absent) of a TRACKS dict, checked."""
    if not isinstance(tracks, dict) or not isinstance(tracks.get("track_path"), torch.Tensor):
        raise NodeInputError(name, f"expected TRACKS (from GenerateTracks), got {type(tracks).__name__}")
    path = tracks["track_path"]
    if path.ndim != 3 or path.shape[-1] != 2:
        raise NodeInputError(name, f"track_path of shape {tuple(path.shape)}; expected [frames, tracks, 2]")
    visibility = tracks.get("track_visibility")
    if visibility is None:
        visibility = torch.ones(path.shape[:2], dtype=torch.bool)
    if not isinstance(visibility, torch.Tensor) or visibility.ndim != 2 \
            or visibility.shape[-1] not in (1, path.shape[1]):
        raise NodeInputError(name, f"track_visibility of shape {tuple(getattr(visibility, 'shape', ()))}; expected "
                             f"[frames, {path.shape[1]}] or [frames, 1]")
    return path, visibility


def mask_visibility(track_mask: Any, frames: int, tracks: int) -> torch.Tensor:
    """Visibility from a ``track_mask``: ``[frames, 1]``, a frame visible where any pixel of
    its mask is above 0; all ``[frames, tracks]`` visible without one."""
    if track_mask is None:
        return torch.ones(frames, tracks, dtype=torch.bool)
    if not isinstance(track_mask, torch.Tensor) or track_mask.ndim != 3:
        raise NodeInputError("track_mask", f"expected a MASK [frames, height, width], got {type(track_mask).__name__}")
    return (track_mask > 0).any(dim=(1, 2)).unsqueeze(-1)


def coords_path(track_coords: Any, input_name: str = "track_coords") -> torch.Tensor:
    """Track text (SplineEditor's ``coord_str``) as a path ``[frames, tracks, 2]``: every
    track as long as the first (longer ones cut there), as the Wan-Move nodes read it."""
    data = parse_tracks(track_coords, input_name)
    if not data or not data[0]:
        raise NodeInputError(input_name, "no tracks given", "connect a SplineEditor's coord_str")
    frames = len(data[0])
    if any(len(track) < frames for track in data):
        raise NodeInputError(input_name, f"tracks of {sorted({len(t) for t in data})} points; each needs at least "
                             f"the first track's {frames}")
    return torch.tensor([[track[f] for track in data] for f in range(frames)], dtype=torch.float32)
