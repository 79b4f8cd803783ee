"""VideoHelperSuite (Kosinkadink/ComfyUI-VideoHelperSuite): VHS_LoadVideo and
VHS_VideoCombine on imageio-ffmpeg's ffmpeg (see ``wfrun.media.video``)."""
