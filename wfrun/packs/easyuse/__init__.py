"""ComfyUI-Easy-Use (yolain/ComfyUI-Easy-Use): its pass-through utility nodes, and its
for-loop (``loop.py``, a :class:`wfrun.nodes.loops.LoopKind` the engine runs)."""
