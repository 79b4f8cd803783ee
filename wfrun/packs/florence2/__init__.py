"""Executors of kijai's ComfyUI-Florence2 on transformers' Florence-2 (no remote code).

``nodes`` holds the loaders and ``Florence2Run``; ``drawing`` the boxes and masks it draws;
``checks`` reports a missing model folder at validation;
``coordinates`` holds ``Florence2toCoordinates``, which kijai's ComfyUI-segment-anything-2
defines but which only ever reads Florence2Run's ``data``. The model folders are found and
built by ``wfrun.models.florence2``.
"""
