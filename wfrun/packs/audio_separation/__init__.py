"""audio-separation-nodes-comfyui (christian-byrne): AudioCrop, and AudioSeparation's refusal."""
