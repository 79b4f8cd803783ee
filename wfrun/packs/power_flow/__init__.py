"""Executors of x3bits' ComfyUI-Power-Flow (node types ``ComfyUI_Power_Flow.*``; files save
no ``cnr_id`` for it): its literals, lists and for-loop.

The for-loop pair is declared in ``loop.py`` as a :class:`wfrun.nodes.loops.LoopKind`; the
engine runs its body (``wfrun.engine.loops``).
"""

from . import basic, collections, loop  # noqa: F401
