"""comfyui-wan-vace-prep (gpertea, MIT): the control video and mask VACE needs to extend a
video from a frame (WanVACEExtend) or to join two clips with a generated transition
(WanVACEPrep, WanVACEPrepBatch). Pure tensor bookkeeping; the sampling is the core VACE path."""

from wfrun.packs.wan_vace_prep import batch_context, color_correct, fmlf2v, frame_selector, frames, inline, load_folder, outpaint, overlay, prep  # noqa: F401
