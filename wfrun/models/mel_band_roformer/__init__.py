"""Mel-Band RoFormer vocal separation (kijai's ComfyUI-MelBandRoFormer): ``filterbank`` (the
mel band layout), ``network`` (the model), ``load`` (reading the released file, tiny writers)
and ``separate`` (the sampler's chunked overlap-add)."""

from wfrun.models.mel_band_roformer.load import TINY, load_mel_band_roformer, write_tiny
from wfrun.models.mel_band_roformer.network import MelBandConfig, MelBandRoformer
from wfrun.models.mel_band_roformer.separate import separate

__all__ = ["TINY", "MelBandConfig", "MelBandRoformer", "load_mel_band_roformer", "separate", "write_tiny"]
