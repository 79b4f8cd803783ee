"""comfy-image-saver (giriss/comfy-image-saver): its ``Seed Generator`` utility node."""
