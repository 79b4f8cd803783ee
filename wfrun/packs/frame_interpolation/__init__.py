"""Fannovel16's ComfyUI-Frame-Interpolation: ``RIFE VFI`` on wfrun's own IFNet
(``models.rife``). ``FILM VFI`` has a spec but no executor yet (its only release is a
TorchScript archive, which wfrun does not load)."""
