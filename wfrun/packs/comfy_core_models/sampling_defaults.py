"""The sampling shift each Wan family starts with in ComfyUI, before ModelSamplingSD3.

ComfyUI's supported-model entries give Wan 2.1 models ``shift=8.0`` and Wan 2.2's TI2V-5B
``shift=5.0`` (``sampling_settings``); the templates set their own with ModelSamplingSD3.
"""

from __future__ import annotations

from wfrun.models.families import TransformerFamily

WAN21_SHIFT = 8.0
WAN22_5B_SHIFT = 5.0


def default_shift(family: TransformerFamily) -> float:
    return WAN22_5B_SHIFT if family.latent_channels == 48 else WAN21_SHIFT
