"""Executors of kijai's ComfyUI-segment-anything-2 on transformers' SAM 2.

``types`` holds the SAM2MODEL value, ``prompts`` turns the pack's point JSON and BBOX lists
into per-object prompts (as the pack's ``Sam2Segmentation`` arranges them), ``nodes`` holds
the executors. Conversion and inference live in :mod:`wfrun.models.sam2`.
"""
