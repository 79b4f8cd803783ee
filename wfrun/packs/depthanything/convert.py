"""Moved to :mod:`wfrun.models.depth_anything.convert` (shared with comfyui_controlnet_aux's
preprocessor); its names stay importable from here."""

from wfrun.models.depth_anything.convert import *  # noqa: F401,F403
from wfrun.models.depth_anything.convert import CONFIG_DIR, SOURCES  # noqa: F401
