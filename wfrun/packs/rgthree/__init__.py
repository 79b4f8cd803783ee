"""rgthree-comfy (rgthree/rgthree-comfy): Seed, Any Switch, Power Lora Loader, KSampler Config, Image Inset Crop."""
