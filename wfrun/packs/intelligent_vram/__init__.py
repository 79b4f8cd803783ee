"""IntelligentVRAMNode (michaelnxdstan/IntelligentVRAMNode): WanVideoEnhancedBlockSwap, a
block-swap settings node for Kijai's ComfyUI-WanVideoWrapper."""
