"""Comfy_KepListStuff (M1kep/Comfy_KepListStuff): List Length."""
