"""FlyingFireCo's tiled_ksampler: Tiled KSampler and Asymmetric Tiled KSampler (seamless
textures by circular padding of the model's 2D convolutions)."""
