"""ComfyUi-Scale-Image-to-Total-Pixels-Advanced (BigStationW): ImageScaleToTotalPixelsX."""
