"""Moved to :mod:`wfrun.models.depth_anything.load` (shared with comfyui_controlnet_aux's
preprocessor); its names stay importable from here."""

from wfrun.models.depth_anything.load import *  # noqa: F401,F403
from wfrun.models.depth_anything.load import INTERPOLATE_OFFSET  # noqa: F401
