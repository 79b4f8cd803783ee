"""Memory-cleanup passthroughs: Comfyui-Memory_Cleanup's RAMCleanup / VRAMCleanup
(LAOGOU-666) and ComfyUI-QwenVL-Mod's VRAMCleanup (huchukato)."""
