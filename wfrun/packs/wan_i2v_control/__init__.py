"""comfyui-wan-i2v-control (romanhacks, by shootthesound): WanI2VConditioningMaskPro, which
fills masked regions of a Wan I2V start image's conditioning latent with a grey re-encode,
and DropFirstFrames. Read from its source up to e35561d (2026-02-01): the repository's later
commits replaced the source with zip archives, which wfrun does not follow."""
