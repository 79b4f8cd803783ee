"""Executors of sipherxyz's ComfyUI Art Venture (registry id ``comfyui-art-venture``): its
image utilities Repeat Images (``ImageRepeat``) and Scale To Megapixels
(``ImageScaleToMegapixels``)."""
