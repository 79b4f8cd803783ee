"""Executors of huchukato/ComfyUI-QwenVL-Mod's prompt writers (``nodes``) on transformers'
Qwen-VL; ``models/configs/qwenvl_models.json`` (wfrun.models) is the pack's model list as data. The folders are found and
built by ``wfrun.models.qwenvl``. The pack's ``VRAMCleanup`` lives in ``packs/memory_cleanup``.
"""
