"""Executors of Fannovel16's comfyui_controlnet_aux (registry id ``comfyui_controlnet_aux``):
the preprocessors Wan Fun-control and Animate workflows run on their control videos.

``image`` holds the pack's 8-bit resize-and-pad plumbing on torch, ``files`` where its model
files are found, ``nodes`` the executors: ``PixelPerfectResolution``,
``DepthAnythingV2Preprocessor`` (on ``models.depth_anything``) and ``LineArtPreprocessor``
(on ``models.lineart``); ``binary`` the model-free ``BinaryPreprocessor`` (OpenCV's grey,
threshold and Otsu rules written on torch).
"""
