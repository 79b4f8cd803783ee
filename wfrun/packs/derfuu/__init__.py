"""Derfuu simple/modded nodes (Derfuu/Derfuu_ComfyUI_ModdedNodes, cnr id
derfuu_comfyui_moddednodes): the text nodes Wan workflows use for prompts."""
