"""ComfyUI-Olm-DragCrop (o-l-l-i/ComfyUI-Olm-DragCrop): a crop rectangle drawn on the node."""
