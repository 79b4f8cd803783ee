"""yuvraj108c's ComfyUI-Upscaler-Tensorrt (and forks that keep its nodes, such as
huchukato's ComfyUI-Upscaler-TensorRT-Auto): well-known 4x upscalers exported to ONNX and
built into TensorRT engines. wfrun has no TensorRT; it runs the same networks from their
PyTorch release in ``upscale_models`` (:mod:`.nodes`)."""
