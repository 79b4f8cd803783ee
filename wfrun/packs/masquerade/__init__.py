"""Executors of BadCafeCode's Masquerade Nodes (registry id ``masquerade-nodes-comfyui``):
Get Image Size and Image To Mask, which shared Wan workflows use as small helpers."""
