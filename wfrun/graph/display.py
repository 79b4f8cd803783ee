"""Display-only node types: shared by the checks (a warning, not an unknown node) and the planner (skipped)."""

from __future__ import annotations

#: Nodes that only show something in the ComfyUI window (an image, a video, a text, a
#: comparison) and compute nothing a file gets. They are output nodes, so the planner
#: would pick them and a run would stop on them where wfrun has no executor; a headless
#: run has no window to show them in, so when nothing uses their outputs and wfrun cannot
#: run them, they are skipped with one line of notice (``Plan.skipped``). Where wfrun has
#: an executor (PreviewImage writes a preview file) they run as usual, and a node whose
#: output feeds another node is never skipped. Group muters/bypassers and notes are not
#: here: they are frontend-only (``wfrun.specs.registry.FRONTEND_ONLY``) and never become
#: graph nodes, their effect being already saved in the modes of the nodes they control.
DISPLAY_ONLY = frozenset({
    # ComfyUI core
    "PreviewImage", "PreviewAnimation", "PreviewAny", "PreviewAudio", "PreviewVideo", "MaskPreview",
    "Preview3D", "Preview3DAnimation", "ImageCompare",
    # rgthree-comfy
    "Image Comparer (rgthree)", "Display Any (rgthree)", "Display Int (rgthree)",
    # ComfyUI-Custom-Scripts (pysssss)
    "ShowText|pysssss",
    # ComfyUI_essentials, comfyui-easy-use, KJNodes, Impact, mtb, Crystools
    "MaskPreview+", "easy showAnything", "easy showTensorShape", "easy imageInsetCrop preview",
    "PreviewAnimation|KJ", "ImageAndMaskPreview", "PreviewBridge", "Note Plus (mtb)", "Show Any [Crystools]",
    "Show Text [Crystools]", "Preview from image [Crystools]",
})
