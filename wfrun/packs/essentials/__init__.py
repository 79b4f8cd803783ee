"""ComfyUI_essentials (cubiq) nodes used by the WanVideoWrapper examples: ImageResize+ and
SimpleMath+, as the pack's newest revision in our specs does them."""
