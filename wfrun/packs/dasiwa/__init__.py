"""ComfyUI-DaSiWa-Nodes (darksidewalker/ComfyUI-DaSiWa-Nodes): the Resolution Scale Calculator."""
