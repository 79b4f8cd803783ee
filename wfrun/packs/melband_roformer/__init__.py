"""kijai's ComfyUI-MelBandRoFormer: vocal/instrument separation with Mel-Band RoFormer
(:mod:`wfrun.models.mel_band_roformer`), used before the talking-video audio encoders."""
