"""ComfyUI-TextUtils (wutipong/ComfyUI-TextUtils, registry id comfyui-textutils): Split String to List."""
