"""comfy_mtb (melMass/comfy_mtb): Audio Duration and String Replace."""
