"""rgthree-comfy (rgthree/rgthree-comfy): Seed and Any Switch."""
