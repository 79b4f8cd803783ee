"""CRT-Nodes (PGCRT/CRT-Nodes): Quantize and Crop Image, Strength To Steps."""
