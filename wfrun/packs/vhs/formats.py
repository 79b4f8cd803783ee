"""The ffmpeg output formats of VHS_VideoCombine (``video/<name>``), written as Python.

VHS describes each format in a JSON file under ``video_formats/`` whose lists mix fixed
ffmpeg arguments with widgets (``pix_fmt``, ``crf``, ``save_metadata`` …) that the frontend
adds to the node. Here each format is a :class:`VideoFormat`: its widgets with their
defaults, and a function from the widget values to the ffmpeg output arguments; the
arguments and defaults are the ones VHS uses at the revision of our specs.

Formats VHS offers that wfrun does not make: the NVENC ones (``nvenc_h264-mp4``,
``nvenc_hevc-mp4``, ``nvenc_av1-mp4``: GPU encoders), ``gifski`` (a separate binary) and the
PNG sequences (``8bit-png``, ``16bit-png``: one file per frame).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

BT709_OUT = ["-vf", "scale=out_color_matrix=bt709", "-color_range", "tv", "-colorspace", "bt709",
             "-color_primaries", "bt709", "-color_trc", "bt709"]


@dataclass(frozen=True)
class VideoFormat:
    name: str
    extension: str
    #: widget name -> (options or kind, default)
    widgets: dict[str, tuple[Any, Any]]
    build: Callable[[dict[str, Any]], list[str]]
    fake_trc: str = "iec61966-2-1"
    audio_args: tuple[str, ...] | None = None
    input_color_depth: str | None = None  # fixed depth; otherwise the 'input_color_depth' widget, else 8bit
    env: dict[str, str] = field(default_factory=dict)

    def values(self, given: dict[str, Any]) -> dict[str, Any]:
        """Widget values: given ones, else the format's default (VHS's fallback)."""
        out = {}
        for name, (options, default) in self.widgets.items():
            out[name] = given.get(name, default)
            if isinstance(options, list) and str(out[name]) not in [str(o) for o in options]:
                raise ValueError(f"{name} {out[name]!r} is not one of {options}")
        return out

    def save_metadata(self, values: dict[str, Any]) -> bool:
        return "save_metadata" in self.widgets and _true(values.get("save_metadata"))

    def trim_to_audio(self, values: dict[str, Any]) -> bool:
        return "trim_to_audio" in self.widgets and _true(values.get("trim_to_audio"))

    def color_depth(self, values: dict[str, Any]) -> str:
        return self.input_color_depth or str(values.get("input_color_depth", "8bit"))


def _true(value: Any) -> bool:
    return str(value) not in ("False", "false", "0", "None", "")


def _h264(v: dict[str, Any]) -> list[str]:
    return ["-n", "-c:v", "libx264", "-pix_fmt", str(v["pix_fmt"]), "-crf", str(v["crf"]), *BT709_OUT]


def _h265(v: dict[str, Any]) -> list[str]:
    return ["-n", "-c:v", "libx265", "-vtag", "hvc1", "-pix_fmt", str(v["pix_fmt"]), "-crf", str(v["crf"]),
            "-preset", "medium", "-x265-params", "log-level=quiet", *BT709_OUT]


def _webm(v: dict[str, Any]) -> list[str]:
    # no -c:v: ffmpeg picks its default WebM encoder (libvpx-vp9)
    return ["-n", "-pix_fmt", str(v["pix_fmt"]), "-crf", str(v["crf"]), "-b:v", "0", *BT709_OUT]


def _av1_webm(v: dict[str, Any]) -> list[str]:
    return ["-n", "-c:v", "libsvtav1", "-pix_fmt", str(v["pix_fmt"]), "-crf", str(v["crf"]), *BT709_OUT]


def _gif(v: dict[str, Any]) -> list[str]:
    graph = ("[0:v] split [a][b]; [a] palettegen=reserve_transparent=on:transparency_color=ffffff [p]; "
             f"[b][p] paletteuse=dither={v['dither']}")
    return ["-n", "-filter_complex", graph]


def _prores(v: dict[str, Any]) -> list[str]:
    args = ["-n", "-c:v", "prores_ks", "-profile:v", str(v["profile"])]
    if str(v["profile"]) in ("4", "4444", "4444xq"):
        args += ["-pix_fmt", "yuva444p10le" if v.get("has_alpha") else "yuv444p10le"]
    return args + ["-vf", "scale=out_color_matrix=bt709", "-colorspace", "bt709", "-color_primaries", "bt709",
                   "-color_trc", "bt709"]


def _ffv1(v: dict[str, Any]) -> list[str]:
    return ["-n", "-c:v", "ffv1", "-level", str(v["level"]), "-coder", str(v["coder"]), "-context", str(v["context"]),
            "-g", str(v["gop_size"]), "-slices", str(v["slices"]), "-slicecrc", str(v["slicecrc"]),
            "-pix_fmt", str(v["pix_fmt"])]


_META = {"save_metadata": ("BOOLEAN", True)}
_TRIM = {"trim_to_audio": ("BOOLEAN", False)}

FORMATS: dict[str, VideoFormat] = {f.name: f for f in (
    VideoFormat("h264-mp4", "mp4", {"pix_fmt": (["yuv420p", "yuv420p10le"], "yuv420p"), "crf": ("INT", 19),
                                    **_META, **_TRIM},
                _h264, fake_trc="bt709", audio_args=("-c:a", "aac", "-movflags", "use_metadata_tags")),
    VideoFormat("h265-mp4", "mp4", {"pix_fmt": (["yuv420p10le", "yuv420p"], "yuv420p10le"), "crf": ("INT", 22),
                                    **_META},
                _h265, fake_trc="bt709", audio_args=("-c:a", "aac", "-movflags", "use_metadata_tags")),
    VideoFormat("webm", "webm", {"pix_fmt": (["yuv420p", "yuva420p"], "yuv420p"), "crf": ("INT", 20),
                                 **_META, **_TRIM},
                _webm, fake_trc="bt709", audio_args=("-c:a", "libvorbis")),
    VideoFormat("av1-webm", "webm", {"pix_fmt": (["yuv420p10le", "yuv420p"], "yuv420p10le"), "crf": ("INT", 23),
                                     "input_color_depth": (["8bit", "16bit"], "8bit"), **_META},
                _av1_webm, fake_trc="bt709", audio_args=("-c:a", "libopus"), env={"SVT_LOG": "1"}),
    VideoFormat("ffmpeg-gif", "gif", {"dither": (["bayer", "heckbert", "floyd_steinberg", "sierra2", "sierra2_4a",
                                                  "sierra3", "burkes", "atkinson", "none"], "sierra2_4a")},
                _gif),
    VideoFormat("ProRes", "mov", {"profile": (["lt", "standard", "hq", "4444", "4444xq"], "hq")},
                _prores, fake_trc="bt709", audio_args=("-c:a", "pcm_s16le")),
    VideoFormat("ffv1-mkv", "mkv", {"level": (["0", "1", "3"], "3"), "coder": (["0", "1", "2"], "1"),
                                    "context": (["0", "1"], "1"), "gop_size": ("INT", 1),
                                    "slices": (["4", "6", "9", "12", "16", "20", "24", "30"], "16"),
                                    "slicecrc": (["0", "1"], "1"),
                                    "pix_fmt": (["rgba64le", "bgra", "yuv420p", "yuv422p", "yuv444p", "yuva420p",
                                                 "yuva422p", "yuva444p", "yuv420p10le", "yuv422p10le", "yuv444p10le",
                                                 "yuv420p12le", "yuv422p12le", "yuv444p12le", "yuv420p14le",
                                                 "yuv422p14le", "yuv444p14le", "yuv420p16le", "yuv422p16le",
                                                 "yuv444p16le", "gray", "gray10le", "gray12le", "gray16le"],
                                                "rgba64le"),
                                    **_META, **_TRIM},
                _ffv1, audio_args=("-c:a", "flac"), input_color_depth="16bit"),
)}

NOT_MADE = {
    "nvenc_h264-mp4": "it needs NVIDIA's hardware encoder; use video/h264-mp4",
    "nvenc_hevc-mp4": "it needs NVIDIA's hardware encoder; use video/h265-mp4",
    "nvenc_av1-mp4": "it needs NVIDIA's hardware encoder; use video/av1-webm",
    "gifski": "it needs the gifski program; use video/ffmpeg-gif or image/gif",
    "8bit-png": "wfrun does not write frame sequences; use SaveImage",
    "16bit-png": "wfrun does not write frame sequences; use SaveImage",
}


def supported_formats() -> list[str]:
    return ["image/gif", "image/webp"] + [f"video/{name}" for name in FORMATS]
