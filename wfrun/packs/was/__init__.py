"""WAS Node Suite (WASasquatch/was-node-suite-comfyui, and its maintained fork ``was-ns``): its
text nodes Text Multiline, Text Concatenate and Text Find and Replace, Tensor Batch to Image,
Image Blank, Image Input Switch and Latent Input Switch."""
