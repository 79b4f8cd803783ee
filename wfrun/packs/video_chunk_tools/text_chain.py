"""ChainTextEmbeds: the connected ``embed_1``..``embed_8`` in slot order, gaps skipped, as
a TEXT_EMBED_SEQUENCE (a tuple here; the pack's list) for WanChunkedI2VSampler, which gives
chunk k the k-th and repeats the last."""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import ExecContext, NodeInputError, executor
from wfrun.sampling.conditioning import TextEmbeds

#: The pack's eight slots.
SLOTS = tuple(f"embed_{i}" for i in range(1, 9))


@executor("ChainTextEmbeds")
def chain_text_embeds(ctx: ExecContext, embed_1: TextEmbeds, embed_2: TextEmbeds | None = None,
                      embed_3: TextEmbeds | None = None, embed_4: TextEmbeds | None = None,
                      embed_5: TextEmbeds | None = None, embed_6: TextEmbeds | None = None,
                      embed_7: TextEmbeds | None = None, embed_8: TextEmbeds | None = None, **_: Any) -> tuple:
    given = dict(zip(SLOTS, (embed_1, embed_2, embed_3, embed_4, embed_5, embed_6, embed_7, embed_8)))
    sequence = []
    for name, value in given.items():
        if value is None:
            continue
        if not isinstance(value, TextEmbeds):
            raise NodeInputError(name, f"expected WANVIDEOTEXTEMBEDS, got {type(value).__name__}",
                                 "connect WanVideoTextEncode (or WanVideoApplyNAG) here")
        sequence.append(value)
    if not sequence:
        raise NodeInputError("embed_1", "no text embeds connected", "connect WanVideoTextEncode to embed_1")
    return (tuple(sequence),)
