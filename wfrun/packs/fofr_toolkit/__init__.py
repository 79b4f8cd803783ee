"""comfyui-fofr-toolkit (fofr/comfyui-fofr-toolkit): the 🪴 size helpers and Incrementer."""
