"""ComfyUI-HunyuanVideoWrapper (kijai/ComfyUI-HunyuanVideoWrapper): the one node Wan workflows
borrow from it, HyVideoEnhanceAVideo."""
