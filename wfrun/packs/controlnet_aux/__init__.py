"""comfyui_controlnet_aux (Fannovel16/comfyui_controlnet_aux): PixelPerfectResolution. Its
preprocessors (DWPose, depth, line art …) need their detector models and are not here."""
