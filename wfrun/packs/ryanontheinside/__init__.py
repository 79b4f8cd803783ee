"""ComfyUI_RyanOnTheInside (ryanontheinside/ComfyUI_RyanOnTheInside, cnr id
comfyui_ryanonyheinside): its audio utility that Wan S2V workflows put before the audio
encoder."""
