"""ComfyUI-ReservedVRAM (Windecay/ComfyUI-ReservedVRAM, registry id ``reservedvram``):
ReservedVRAMSetter, a memory setting node that passes a value on."""
