"""ComfyUI_Fictiverse (Fictiverse/ComfyUI_Fictiverse): small utility nodes."""
