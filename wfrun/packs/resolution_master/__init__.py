"""Comfyui-Resolution-Master (Azornes/Comfyui-Resolution-Master): ResolutionMaster."""
