"""Top-down human pose estimation on ONNX models, shared by the pose preprocessors of
comfyui_controlnet_aux (``DWPreprocessor``) and ComfyUI-WanAnimatePreprocess.

Both packs run the same pipeline: a person detector (YOLOX) finds boxes, each box is cropped by
an affine warp to the pose network's input, the network (RTMPose/DWPose, SimCC heads) gives
keypoints, and the keypoints are drawn OpenPose-style. The pieces, each with one job:

- ``onnx_runtime``: reading a model file into an onnxruntime session, safely and with limits;
- ``onnx_write`` and ``tiny``: a small ONNX writer and the tiny random stand-in models (real
  input and output names and shapes) that ``--smoke`` runs and tests build on;
- ``resample``: OpenCV's bilinear resize (8-bit and float) and affine warp, on numpy;
- ``yolox``: the detector's letterbox, grid decode and non-maximum suppression;
- ``simcc``: the top-down crop (box to centre/scale, warp) and the SimCC decode;
- ``wholebody``: COCO-WholeBody's 133 points to OpenPose's 18 body points, hands and face;
- ``raster`` and ``draw``: OpenCV's filled circles, lines, convex and general polygons, and the
  OpenPose drawing on them.

ComfyUI-WanAnimatePreprocess runs its own variant (a YOLOv10 detector, a heatmap ViTPose):

- ``yolo``: the end-to-end detector's rows, OpenCV's ``dnn.NMSBoxes`` and the pack's choice of
  the person;
- ``vitpose`` and ``heatmap``: the pack's crop around the person and the heatmap decode (best
  cell, DARK refinement, back through the box);
- ``animate_meta`` and ``animate_draw``: the 133 points in Wan Animate's parts (20 body points,
  hands, face), the face box and key points, and Wan Animate's pose drawing.

OpenCV is not a dependency of wfrun: its few operations used here are rewritten on numpy,
following OpenCV's integer rules where they decide which pixels are drawn.
"""
