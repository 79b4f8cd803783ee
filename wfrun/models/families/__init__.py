"""Model families: one entry per kind of checkpoint wfrun knows, with the facts that tell it
apart and what it needs, so no other module has to know a channel count.

Detection (``models.detect``), the tiny-checkpoint writer (``models.tiny``) and the
samplers' conditioning checks ask this registry instead of comparing numbers of their own.
Today it holds the Wan transformers (``families.wan_transformer``); VAEs, text and image
encoders follow as their loaders grow.
"""

from wfrun.models.families.wan_transformer import (
    TRANSFORMER_FAMILIES,
    TransformerFamily,
    classify_transformer,
    conditioning_by_channels,
    transformer_family,
)

__all__ = ["TRANSFORMER_FAMILIES", "TransformerFamily", "classify_transformer", "conditioning_by_channels", "transformer_family"]
