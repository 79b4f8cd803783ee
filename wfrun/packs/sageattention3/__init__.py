"""ComfyUI-SageAttention3 (wallen0322/ComfyUI-SageAttention3): Sage3AttentionOnlySwitch."""
