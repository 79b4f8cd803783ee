"""Stand-in input files for ``--smoke``: a picture, a clip, a mask or a sound.

Shared workflows name their authors' inputs (``oldman_upscaled.png``, ``wolf_interpolated.mp4``),
which a CI machine does not have. A smoke run proves that the workflow executes, not what it
makes of a particular picture, so each missing file is replaced by a small project-made one
of the same kind, drawn by :mod:`wfrun.media.samples` (no third-party media): the sample
scene as a still, the scene's sun and box moving as a clip (with the tone as its sound), a
disc as a mask, a tone as audio. A picture whose loader's MASK output the workflow uses (a
speaker's area painted in ComfyUI's mask editor, saved as ``clipspace-painted-masked-….png``)
is drawn with that disc cut out of its alpha channel (``masked_image``): ComfyUI's mask is
``1 - alpha``, so the loader's mask is the disc, where a picture without alpha gives an
empty 64x64 mask that covers nothing.

Files are named after the original plus a hash of what was drawn, so the same request gives
the same file: one already there is reused, and nothing else is ever replaced.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import tempfile
import wave
from pathlib import Path, PurePosixPath

import numpy as np

#: What each kind of stand-in is written as.
SUFFIXES = {"image": ".png", "masked_image": ".png", "mask": ".png", "video": ".mp4", "audio": ".wav"}
KINDS = frozenset(SUFFIXES)

#: Bump when the drawings change, so new names are used.
STANDIN_VERSION = "2"

#: Sizes of the stand-ins: a 4:3 frame in multiples of 16 (Wan's sizes), a 16 fps clip.
WIDTH, HEIGHT, FPS = 64, 48, 16.0
SAMPLE_RATE, SECONDS = 16000, 1.0
MAX_FRAMES = 256


def standin_name(original: str, what: str, width: int = WIDTH, height: int = HEIGHT, frames: int = 1) -> str:
    """``<stem>_<hash><suffix>``: the original's file stem (made safe) and a hash of the request."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", PurePosixPath(original.replace("\\", "/")).stem).strip("._")[:40]
    key = f"{STANDIN_VERSION}|{what}|{original}|{width}x{height}|{frames}"
    return f"{stem or what}_{hashlib.sha256(key.encode()).hexdigest()[:10]}{SUFFIXES[what]}"


def write_standin(folder: str | Path, original: str, what: str, *, width: int = WIDTH, height: int = HEIGHT,
                  frames: int = 9, fps: float = FPS) -> Path:
    """A stand-in ``what`` (image, mask, video or audio) for the missing file ``original``,
    in ``folder``; an existing one of the same name is reused, never replaced."""
    if what not in KINDS:
        raise ValueError(f"no stand-in for a {what}")
    frames = max(1, min(int(frames), MAX_FRAMES)) if what == "video" else 1
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / standin_name(original, what, width, height, frames)
    if path.is_file():
        return path
    handle, tmp = tempfile.mkstemp(prefix=".standin-", suffix=SUFFIXES[what], dir=folder)
    os.close(handle)
    tmp_path = Path(tmp)
    try:
        tmp_path.unlink()  # the writers create the file themselves (ffmpeg refuses to replace one)
        _WRITERS[what](tmp_path, width, height, frames, fps)
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)
    return path


def _image(path: Path, width: int, height: int, frames: int, fps: float) -> None:
    from PIL import Image

    from wfrun.media.samples import scene

    Image.fromarray(scene(width, height, 0.5)).save(path, format="PNG")


def _disc(width: int, height: int) -> np.ndarray:
    """The mask's shape: a centred disc, a third of the shorter side in radius (bool HxW)."""
    ys, xs = np.mgrid[0:height, 0:width]
    return ((xs - width / 2) ** 2 + (ys - height / 2) ** 2) <= (min(width, height) / 3) ** 2


def _mask(path: Path, width: int, height: int, frames: int, fps: float) -> None:
    from PIL import Image

    Image.fromarray((_disc(width, height) * 255).astype(np.uint8), mode="L").save(path, format="PNG")


def _masked_image(path: Path, width: int, height: int, frames: int, fps: float) -> None:
    """The still with the disc transparent (alpha 0) and the rest opaque."""
    from PIL import Image

    from wfrun.media.samples import scene

    alpha = np.where(_disc(width, height), 0, 255).astype(np.uint8)
    Image.fromarray(np.dstack([scene(width, height, 0.5), alpha]), mode="RGBA").save(path, format="PNG")


def _video(path: Path, width: int, height: int, frames: int, fps: float) -> None:
    """The clip with the tone as its sound track, as long as the clip: workflows take a
    video's sound from its loader (talking-head and speech-to-video ones) as often as its frames."""
    from wfrun.media.samples import scene
    from wfrun.media.video import encode, mux_audio

    silent = path.with_name(f".silent-{path.name}")
    try:
        data = (scene(width, height, i / max(1, frames - 1)).tobytes() for i in range(frames))
        encode(data, silent, width=width, height=height, frame_rate=fps, fake_trc="bt709",
               output_args=["-n", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "19"])
        mux_audio(silent, path, _tone(frames / fps)[None].astype(np.float32), SAMPLE_RATE, ["-c:a", "aac"])
    finally:
        silent.unlink(missing_ok=True)


def _tone(seconds: float) -> np.ndarray:
    """A 440 Hz sine at 0.3 of full scale, ``seconds`` long at ``SAMPLE_RATE``."""
    t = np.arange(int(SAMPLE_RATE * seconds)) / SAMPLE_RATE
    return 0.3 * np.sin(2 * math.pi * 440.0 * t)


def _audio(path: Path, width: int, height: int, frames: int, fps: float) -> None:
    tone = (_tone(SECONDS) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(tone.tobytes())


_WRITERS = {"image": _image, "masked_image": _masked_image, "mask": _mask, "video": _video, "audio": _audio}
