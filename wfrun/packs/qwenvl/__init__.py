"""Executors of the Qwen-VL prompt writers of 1038lab's ComfyUI-QwenVL (``nodes_1038lab``) and
of huchukato's fork ComfyUI-QwenVL-Mod (``nodes``), on transformers' Qwen-VL; what both packs
do alike (loading, input building, generate) is in ``common``. Nodes of the two share their
names: a node saved with the fork's identity (``aux_id``/``cnr_id``) runs the fork's
executor, any other the original's (the fork's spec file says ``fork_of``). The packs' model
lists are data in ``models/configs/`` (wfrun.models); the folders are found and built by
``wfrun.models.qwenvl``. The fork's ``VRAMCleanup`` lives in ``packs/memory_cleanup``.
"""
