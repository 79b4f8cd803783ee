"""Wav2VecModelLoader (the wrapper's ``multitalk/nodes.py``, 2025-08-26 on): MultiTalk's and
InfiniteTalk's wav2vec 2.0 encoder from one safetensors file in ``models/wav2vec2``, beside
DownloadAndLoadWav2VecModel's Hugging Face folder.

The pack builds its network from a fixed config (chinese-wav2vec2-base: 768 wide, 12 layers
of 12 heads, a group-normed convolution stack without biases, the post-norm encoder), takes
the file's ``wav2vec2.``-prefixed names (the weight-normed positional convolution as
``weight_g``/``weight_v``), casts to ``base_precision`` and gives a WAV2VECMODEL of type
``tencent`` whose feature extractor does not normalize the waveform. wfrun reads the file
with ``models.wav2vec2`` (the same names, prefix or not, either weight-norm spelling) and
hands MultiTalkWav2VecEmbeds the same value DownloadAndLoadWav2VecModel gives for the Tencent
repository, with ``normalize`` off as the pack's extractor config says.

Where wfrun differs: the network's widths come from the file's shapes, so a file of the
base recipe at another size (wfrun's tiny stand-ins) loads where the pack's fixed config
would fail on shapes; a file of the large recipe (layer-normed convolutions, pre-norm
encoder) is refused, as the pack's base network has no place for its weights.
"""

from __future__ import annotations

from typing import Any

from wfrun.models import placement
from wfrun.models.header import CheckpointError
from wfrun.models.wav2vec2 import load_wav2vec2
from wfrun.models.wav2vec2_folder import TENCENT, Wav2VecFolderModel
from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.nodes.models import loading_error, resolve
from wfrun.packs.wanvideo.fantasytalking import PRECISIONS

FOLDER = "wav2vec2"


@executor("Wav2VecModelLoader", background=True)
def wav2vec_model_loader(ctx: ExecContext, model: str, base_precision: str, load_device: str, **_: Any) -> tuple:
    dtype = PRECISIONS.get(str(base_precision))
    if dtype is None:
        raise NodeInputError("base_precision", f"unknown precision {base_precision!r}",
                             f"use one of {', '.join(PRECISIONS)}")
    path = resolve(ctx, FOLDER, str(model), "model")
    try:
        encoder = load_wav2vec2(path)
    except (CheckpointError, ValueError) as err:
        raise loading_error("model", err) from None
    spec = encoder.spec
    if spec.stable or spec.conv_norm != "group" or spec.conv_bias:
        raise NodeInputError("model", f"{path.name} is a {spec.name} of the large recipe; this loader builds "
                             "chinese-wav2vec2-base (the base recipe) for MultiTalk/InfiniteTalk",
                             "give the chinese-wav2vec2-base safetensors file")
    module = encoder.model.to(device=placement.node_device(load_device, ctx), dtype=dtype)
    return (Wav2VecFolderModel(module, TENCENT, dtype, False, path),)
