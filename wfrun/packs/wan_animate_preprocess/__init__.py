"""Executors of kijai's ComfyUI-WanAnimatePreprocess (registry id ``ComfyUI-WanAnimatePreprocess``):
the pose and face preprocessing of Wan 2.2 Animate workflows.

``types`` holds the values passed between its nodes (``POSEMODEL``, ``POSEDATA``), ``nodes``
the executors ``OnnxDetectionModelLoader``, ``PoseAndFaceDetection`` and ``DrawViTPose``, on
``models.pose`` (YOLO detector, ViTPose heatmap decode, the Animate pose drawing).
"""
