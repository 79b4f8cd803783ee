"""Stand-in inputs of ``--smoke``: the clip carries the tone as its sound, as long as the clip,
so workflows that take a video's sound from its loader run under --smoke."""

from __future__ import annotations

import numpy as np

from wfrun.media import video as mv
from wfrun.media.audio import read_ffmpeg_default
from wfrun.media.standins import FPS, HEIGHT, WIDTH, write_standin


def test_the_stand_in_clip_has_its_frames_and_a_440_hz_sound_as_long(tmp_path):
    path = write_standin(tmp_path, "talk.mp4", "video", frames=9)
    info = mv.probe(path)
    assert (info.width, info.height, info.frame_count) == (WIDTH, HEIGHT, 9)
    sound = read_ffmpeg_default(path)
    seconds = sound.samples.shape[1] / sound.sample_rate
    assert abs(seconds - 9 / FPS) < 0.05  # AAC frames round the end a little
    spectrum = np.abs(np.fft.rfft(sound.samples[0]))
    peak = np.fft.rfftfreq(sound.samples.shape[1], 1 / sound.sample_rate)[int(np.argmax(spectrum))]
    assert abs(peak - 440.0) < 1.5 * sound.sample_rate / sound.samples.shape[1]
    assert write_standin(tmp_path, "talk.mp4", "video", frames=9) == path  # reused, not redrawn
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left
