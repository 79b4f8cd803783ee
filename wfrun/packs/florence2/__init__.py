"""Executors of kijai's ComfyUI-Florence2 on transformers' Florence-2 (no remote code).

``nodes`` holds the loaders and ``Florence2Run``; ``drawing`` the boxes and masks it draws;
``checks`` reports a missing model folder at validation. The model folders are found and
built by ``wfrun.models.florence2``. ``Florence2toCoordinates`` belongs to
ComfyUI-segment-anything-2 (``packs/segment_anything2``).
"""
