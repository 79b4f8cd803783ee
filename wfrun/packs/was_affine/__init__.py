"""was_affine (WASasquatch/was_affine): WAS Latent Affine with its Perlin options."""
