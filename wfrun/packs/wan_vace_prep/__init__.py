"""comfyui-wan-vace-prep (gpertea, MIT): the control videos and masks VACE needs to extend a
video (WanVACEExtend), join two clips with a generated transition (WanVACEPrep,
WanVACEPrepBatch, WanVACEBatchContext), regenerate a stretch inside one clip (VACEInline,
VACESmooth), inpaint (WanVACEInpaint), outpaint (VACEOutpaint, VACEOutpaintLayout) and pin
first, middle and last frames (WanVACEFirstMiddleLast); the same for Wan I2V conditioning
(WanFMLF2V, WanFirstLastMiddleFrameToVideo); a colour correction for the joined transitions
(WanVACETransitionColorCorrect); and small helpers (Duration, FrameNumberOverlay,
LoadVideosFromFolderSimple, VisualFrameSelector). Mostly tensor bookkeeping; the sampling
is the core VACE path."""

from wfrun.packs.wan_vace_prep import (  # noqa: F401
    batch_context, color_correct, fmlf2v, frame_selector, frames, inline, load_folder, outpaint, overlay, prep)
