"""Executors of ClownsharkBatwing's RES4LYF (registry id ``res4lyf``): its text boxes,
TextConcatenate, ClownsharKSampler_Beta (standard mode, RES samplers), the neutral
ClownOptions_DetailBoost_Beta, its all-in-one ClownModelLoader and TorchCompileModels.

Its TextBox and TextConcatenate nodes appear in shared Wan workflows as plain prompt
holders; its guides and other samplers are not run by wfrun.
"""

from . import clownshark, concatenate, loaders, options, sigmas, text  # noqa: F401
