"""ComfyUI-Custom-Scripts (pythongosssss/ComfyUI-Custom-Scripts): StringFunction."""
