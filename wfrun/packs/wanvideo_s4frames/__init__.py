"""rauldlnx10/ComfyUI-WanVideoWrapper-Workflow: a replacement ``nodes.py`` for the wrapper that
adds WanVideoVACES4frames (its other nodes are the wrapper's own)."""
