"""ComfyUI core model nodes that WanVideoWrapper workflows borrow: CLIPLoader (UMT5 for Wan),
CLIPTextEncode (feeding WanVideoTextEmbedBridge) and CLIPVisionLoader."""
