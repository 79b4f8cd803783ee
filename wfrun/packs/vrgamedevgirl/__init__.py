"""comfyui-vrgamedevgirl (vrgamegirl19/comfyui-vrgamedevgirl): FastFilmGrain and
FastUnsharpSharpen, the finishing touches at the end of many Wan video workflows."""
