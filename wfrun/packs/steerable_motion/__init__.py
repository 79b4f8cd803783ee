"""Steerable-Motion (banodoco/Steerable-Motion): its Wan video continuation helpers and the
Wan frame-count input."""
