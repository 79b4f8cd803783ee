"""ComfyUI-Inspire-Pack (ltdrdata/ComfyUI-Inspire-Pack): only its folder image loader so far."""

from wfrun.packs.inspire import image_folder  # noqa: F401
