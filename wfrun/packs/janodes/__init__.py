"""Executors of ComfyUI_JANodes, the small LoRA-string nodes shipped in the ``nodes/`` folder
of jalberty2018's ComfyUI Docker images (run-comfyui-wan2)."""
