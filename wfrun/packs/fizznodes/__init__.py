"""ComfyUI_FizzNodes (FizzleDorf/ComfyUI_FizzNodes): BatchPromptSchedule and its latent-input twin."""
