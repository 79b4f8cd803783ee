"""Executors of omar92's ComfyUI-QualityOfLifeSuit_Omar92 (registry id
``ComfyUI-QualityOfLifeSuit_Omar92``): its prompt holder ``Text _O``."""
