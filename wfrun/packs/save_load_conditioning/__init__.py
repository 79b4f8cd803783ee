"""ComfyUI-SaveAndLoadPromptCondition (endman100): LoadContditioning, a conditioning read back
from a file its SaveConditioning wrote."""
