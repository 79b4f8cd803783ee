"""ComfyUI core image nodes: LoadImage, SaveImage, PreviewImage, EmptyImage, ImageScale,
ImageScaleBy (as in ComfyUI's nodes.py at the revision of our comfy-core specs)."""
