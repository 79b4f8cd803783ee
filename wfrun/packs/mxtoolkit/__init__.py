"""ComfyUI-mxToolkit (Smirnov75/ComfyUI-mxToolkit): the mxSlider and mxSlider2D value sliders."""
