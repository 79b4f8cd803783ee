"""comfyui-tooling-nodes (Acly/comfyui-tooling-nodes): the nodes external tools fill in."""
