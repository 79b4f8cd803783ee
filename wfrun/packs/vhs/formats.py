"""The ffmpeg output formats of VHS_VideoCombine (``video/<name>``), written as Python.

VHS describes each format in a JSON file under ``video_formats/`` whose lists mix fixed
ffmpeg arguments with widgets (``pix_fmt``, ``crf``, ``save_metadata`` …) that the frontend
adds to the node. Here each format is a :class:`VideoFormat`: its widgets with their
defaults, and a function from the widget values to the ffmpeg output arguments; the
arguments and defaults are the ones VHS uses at the revision of our specs.

The NVENC formats (``nvenc_h264-mp4``, ``nvenc_hevc-mp4``, ``nvenc_av1-mp4``) use NVIDIA's
hardware encoders, which the ffmpeg build has but which need an NVIDIA GPU that has NVENC and
its driver when the file is written (H100/H200 and other compute GPUs have none): such a
format names its ``encoder`` and its ``software_twin``, the software format of the same
codec family that VHS's own advice points to, for a machine without one
(:func:`software_twin_inputs`).

Formats VHS offers that wfrun does not make: ``gifski`` (a separate binary) and the PNG
sequences (``8bit-png``, ``16bit-png``: one file per frame).
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
    #: a hardware encoder that can be missing at run time (NVENC), probed before writing
    encoder: str | None = None
    #: the software format (a FORMATS name) to write instead where ``encoder`` cannot start
    software_twin: str | None = None

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


def _nvenc(codec: str, *extra: str) -> Callable[[dict[str, Any]], list[str]]:
    """VHS's NVENC main pass, then its bitrate argument (``-b:v`` in megabits where
    ``megabit`` is on, else kilobits; VHS compares the widget's text with ``True``). Every
    one starts ``-n``: VHS's H.264 file says ``-y`` (replace), which only matters for a name
    that exists, and wfrun never writes over one."""

    def build(v: dict[str, Any]) -> list[str]:
        unit = "M" if str(v["megabit"]) == "True" else "K"
        return ["-n", "-c:v", codec, *extra, "-pix_fmt", str(v["pix_fmt"]), *BT709_OUT,
                *(["-movflags", "+faststart+write_colr"] if codec != "h264_nvenc" else []),
                "-b:v", f"{v['bitrate']}{unit}"]

    return build


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
_NVENC = {"pix_fmt": (["yuv420p", "p010le"], "yuv420p"), "bitrate": ("INT", 10), "megabit": ("BOOLEAN", True),
          **_META}

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
    VideoFormat("nvenc_h264-mp4", "mp4", _NVENC, _nvenc("h264_nvenc"), fake_trc="bt709",
                audio_args=("-c:a", "aac", "-movflags", "use_metadata_tags"), encoder="h264_nvenc",
                software_twin="h264-mp4"),
    VideoFormat("nvenc_hevc-mp4", "mp4", _NVENC, _nvenc("hevc_nvenc", "-vtag", "hvc1"), fake_trc="bt709",
                audio_args=("-c:a", "aac"), encoder="hevc_nvenc", software_twin="h265-mp4"),
    VideoFormat("nvenc_av1-mp4", "mp4", _NVENC, _nvenc("av1_nvenc"), fake_trc="bt709", audio_args=("-c:a", "aac"),
                encoder="av1_nvenc", software_twin="av1-webm"),
)}

#: An NVENC pixel format's software counterpart (``p010le`` is 10-bit 4:2:0, as ``yuv420p10le``).
_SOFTWARE_PIX_FMT = {"yuv420p": "yuv420p", "p010le": "yuv420p10le"}

NOT_MADE = {
    "gifski": "it needs the gifski program; use video/ffmpeg-gif or image/gif",
    "8bit-png": "wfrun does not write frame sequences; use SaveImage",
    "16bit-png": "wfrun does not write frame sequences; use SaveImage",
}


def supported_formats() -> list[str]:
    return ["image/gif", "image/webp"] + [f"video/{name}" for name in FORMATS]


def hardware_format(format: Any) -> VideoFormat | None:
    """The VHS format a ``format`` value names when it needs a hardware encoder, else None."""
    kind, _, name = str(format).partition("/")
    video_format = FORMATS.get(name) if kind == "video" else None
    return video_format if video_format is not None and video_format.encoder else None


def hardware_encoder_message(format: Any, video_format: VideoFormat, problem: str) -> str:
    return (f"wfrun cannot write {format} on this machine: ffmpeg's {video_format.encoder} encoder does not start "
            f"({problem}); it needs an NVIDIA GPU with NVENC and NVIDIA's driver, as in ComfyUI")


def software_twin_inputs(inputs: dict[str, Any]) -> tuple[dict[str, Any], str] | None:
    """VHS_VideoCombine's inputs with a hardware format swapped for its software twin, and
    the new format's name; None when the format needs no hardware encoder.

    The twin is VHS's own advice for each (``h264-mp4`` for NVENC H.264 …): the same codec
    family in the same kind of file, at the twin's default quality (a constant rate factor
    in place of a bitrate, which the twin has no widget for); a 10-bit ``p010le`` becomes
    ``yuv420p10le``. The widgets may be named plainly or as ``format.<widget>`` (a list save)."""
    video_format = hardware_format(inputs.get("format"))
    if video_format is None or video_format.software_twin is None:
        return None
    twin = FORMATS[video_format.software_twin]
    out = {}
    for name, value in inputs.items():
        widget = name.removeprefix("format.")
        if widget in video_format.widgets and widget not in twin.widgets:
            continue  # bitrate, megabit: no twin widget takes them
        if widget == "pix_fmt":
            value = _SOFTWARE_PIX_FMT.get(str(value), value)
        out[name] = value
    out["format"] = f"video/{twin.name}"
    return out, out["format"]
