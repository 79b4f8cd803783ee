"""KJNodes (kijai/ComfyUI-KJNodes): the image and constant nodes the WanVideoWrapper
examples use, and the batch, mask, channel, string and sigma utilities shared Wan
workflows carry (batch indexing and cross-fades, mask generators and resizers, channel
split/merge, noise augmentation, custom sigmas, string joins), as the pack's newest
revision in our specs does them."""
