"""ComfyUI-Wan22-GGUF-Storyboard (chrishill197724-gif): Wan22StoryboardGGUF, a Wan 2.2 TI2V-5B
latent with up to four images placed along the clip (first, two middle, last)."""
