"""ComfyUI_essentials (cubiq): ImageResize+ and SimpleMath+ as the WanVideoWrapper examples
use them, and the pack's image, mask, batch and number utilities that shared Wan workflows
carry (flip, crop, desaturate, composites, mask blur/fix/box, batch expanders, sliders,
comparisons), each as the pack's newest revision in our specs does it."""
