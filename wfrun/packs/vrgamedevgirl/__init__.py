"""comfyui-vrgamedevgirl (vrgamegirl19/comfyui-vrgamedevgirl): FastFilmGrain and
FastUnsharpSharpen, the finishing touches at the end of many Wan video workflows, and
VRGDG_CreateSilentAudio, the silent stand-in its HuMo workflows feed the sampler."""
