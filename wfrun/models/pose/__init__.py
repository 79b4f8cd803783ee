"""Top-down human pose estimation on ONNX models, shared by the pose preprocessors of
comfyui_controlnet_aux (``DWPreprocessor``) and ComfyUI-WanAnimatePreprocess.

Both packs run the same pipeline: a person detector (YOLOX) finds boxes, each box is cropped by
an affine warp to the pose network's input, the network (RTMPose/DWPose, SimCC heads) gives
keypoints, and the keypoints are drawn OpenPose-style. The pieces, each with one job:

- ``onnx_runtime``: reading a model file into an onnxruntime session, safely and with limits;
- ``onnx_write`` and ``tiny``: a small ONNX writer and the tiny random stand-in models (real
  input and output names and shapes) that ``--smoke`` runs and tests build on;
- ``resample``: OpenCV's bilinear resize and affine warp of 8-bit frames, on numpy;
- ``yolox``: the detector's letterbox, grid decode and non-maximum suppression;
- ``simcc``: the top-down crop (box to centre/scale, warp) and the SimCC decode;
- ``wholebody``: COCO-WholeBody's 133 points to OpenPose's 18 body points, hands and face;
- ``raster`` and ``draw``: OpenCV's filled circles, lines and convex polygons, and the OpenPose
  drawing on them.

OpenCV is not a dependency of wfrun: its few operations used here are rewritten on numpy,
following OpenCV's integer rules where they decide which pixels are drawn.
"""
