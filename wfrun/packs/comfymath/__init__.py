"""ComfyMath (evanspearman/ComfyMath): its conversion nodes that public Wan workflows use."""
