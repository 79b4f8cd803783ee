"""Fannovel16's ComfyUI-Frame-Interpolation: ``RIFE VFI`` on wfrun's own IFNet
(``models.rife``) and ``FILM VFI`` on wfrun's own FILM network (``models.film``), whose
TorchScript release is read as data (``models.torchscript_weights``), never run."""
