"""Depth Anything V2 on transformers' ``DepthAnythingForDepthEstimation``, from the original
single-file key layout: ``convert`` (variants, configs in ``configs/``, key renaming) and
``load`` (an offline model from a file or from original tensors). Shared by the packs that
run it: kijai's ComfyUI-DepthAnythingV2 (``packs/depthanything``) and comfyui_controlnet_aux's
``DepthAnythingV2Preprocessor`` (``packs/controlnet_aux``)."""
