"""wfrun: read, migrate, validate and run ComfyUI video workflows without ComfyUI."""

__version__ = "0.1.0"
