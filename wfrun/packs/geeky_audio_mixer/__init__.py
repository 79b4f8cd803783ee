"""ComfyUI_Geeky_AudioMixer (GeekyGhost/ComfyUI_Geeky_AudioMixer): a four-track audio mixer."""
