"""ComfyUI core's ``SaveAudio`` (``comfy_extras/nodes_audio.py``; the writer is
``AudioSaveHelper.save_audio`` in ``comfy_api/latest/_ui.py`` at the revision of our specs):
each item of the AUDIO batch as a FLAC file ``<prefix>_<counter:05>.flac`` (no trailing
underscore, unlike images), ``%batch_num%`` in the name replaced by the item's index, the
workflow embedded as ComfyUI embeds it (``prompt`` and ``workflow`` tags, as JSON). The
AUDIO passes on (the 2026 signature has an AUDIO output).

The samples: ComfyUI hands PyAV one packed float frame ("flt", mono for one channel, else
stereo) and PyAV's FLAC stream takes the encoder's first sample format, 16-bit, converting
with libswresample. wfrun pipes the same float samples into ffmpeg with ``-sample_fmt s16``,
the same conversion by the same library, so the decoded samples are the same; the file's
bytes are not (encoder tags, the order of the tags). A batch item with more than two
channels is refused naming ``audio``: ComfyUI calls it stereo and PyAV fails on the size.
"""

from __future__ import annotations

from typing import Any

from wfrun.media.audio import write_flac
from wfrun.media.image import MediaPathError, save_target, workflow_metadata
from wfrun.media.video import VideoError
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.files import record
from wfrun.packs.comfy_core.audio_edit_nodes import audio_input

MAX_NAME_TRIES = 10_000


@executor("SaveAudio")
def save_audio(ctx: ExecContext, audio: Any, filename_prefix: Any, **_: Any) -> tuple:
    if audio is None:
        raise NodeInputError("audio", "audio is None (a source video without an audio track?)",
                             "connect an AUDIO that has sound")
    waveform, rate = audio_input(audio, "audio")
    if waveform.shape[1] > 2:
        raise NodeInputError("audio", f"the audio has {waveform.shape[1]} channels; ComfyUI's SaveAudio writes mono "
                             "or stereo and fails on more", "mix it down to stereo first")
    try:
        target = save_target(ctx.output_dir, filename_prefix, 0, 0)
    except MediaPathError as err:
        raise NodeInputError("filename_prefix", str(err), "use a name or a relative sub-folder/name") from None
    metadata = workflow_metadata(ctx.workflow_json)
    counter = target.counter
    for batch_number, item in enumerate(waveform.detach().float().cpu()):
        ctx.check_interrupt()
        stem = target.filename.replace("%batch_num%", str(batch_number))
        for _try in range(MAX_NAME_TRIES):
            path = target.folder / f"{stem}_{counter:05}.flac"
            try:
                write_flac(path, item.numpy(), rate, metadata)
                break
            except FileExistsError:
                counter += 1
            except VideoError as err:
                raise NodeInputError("audio", f"the FLAC encoder refused this audio ({item.shape[-1]} samples at "
                                     f"{rate} Hz): {str(err).splitlines()[-1]}") from None
        else:
            raise NodeInputError("filename_prefix", f"no free file name after {MAX_NAME_TRIES} tries in {target.folder}")
        record(ctx, path)
        counter += 1
    return (audio,)
