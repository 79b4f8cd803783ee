"""ComfyUI-Easy-Use (yolain/ComfyUI-Easy-Use): its pass-through utility nodes, and its
for-loop (also over a folder of images: ``images_loop.py``) and while-loop (``loop.py``),
:class:`wfrun.nodes.loops.LoopKind`s the engine runs."""
