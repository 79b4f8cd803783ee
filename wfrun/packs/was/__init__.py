"""WAS Node Suite (WASasquatch/was-node-suite-comfyui): its text nodes Text Multiline and
Text Concatenate."""
