"""KJNodes (kijai/ComfyUI-KJNodes) image and constant nodes used by the WanVideoWrapper
examples, as the pack's newest revision in our specs does them."""
