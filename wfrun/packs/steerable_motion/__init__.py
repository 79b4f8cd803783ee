"""Steerable-Motion (banodoco/Steerable-Motion): its Wan video continuation helpers."""
