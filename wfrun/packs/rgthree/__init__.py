"""rgthree-comfy (rgthree/rgthree-comfy): Seed, Any Switch, Context, Context Switch, Power Lora Loader, KSampler Config,
Image Inset Crop."""
