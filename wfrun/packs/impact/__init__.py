"""ComfyUI-Impact-Pack (ltdrdata/ComfyUI-Impact-Pack): its list/batch and text helpers."""
