"""audio-separation-nodes-comfyui (christian-byrne): AudioCrop, and AudioSeparation (Hybrid Demucs)."""
