"""ComfyUI-AnimateDiff-Evolved (Kosinkadink): only its CameraCtrl pose nodes, which Wan
workflows use to make camera paths for the wrapper's Fun-Camera embeds and KJNodes'
pose visualizer. AnimateDiff itself (motion models on SD1.5/SDXL) is not part of wfrun."""

from wfrun.packs.animatediff_evolved import camera_poses  # noqa: F401
