"""comfyui-infinitetalk-native-sampler (vjumpkung): ComfyUI's InfiniteTalk, sampled in a loop to the audio's length."""
