"""Executors of kijai's ComfyUI-DepthAnythingV2 on transformers' Depth Anything model.

``convert`` reads the pack's single-file weights into ``DepthAnythingForDepthEstimation``
(configs for each size in ``configs/``), ``load`` builds the model offline, ``nodes`` holds the
executors and ``tiny`` writes a tiny random checkpoint in the real key layout for tests.
"""
