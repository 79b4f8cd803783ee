"""Executors of ClownsharkBatwing's RES4LYF (registry id ``res4lyf``): its text boxes,
TextConcatenate, ClownsharKSampler_Beta (standard mode, RES samplers, custom sigmas) and
ClownsharkChainsampler_Beta (resample mode: it continues the run a latent carries), the
neutral ClownOptions_DetailBoost_Beta, ClownOptions_ExtraOptions_Beta (the few extra
options wfrun runs), SharkOptions_Beta and ClownOptions_SwapSampler_Beta (what the sampler
can honour of them), the sigma nodes Sigmas Split Value / Resample / Rescale and Linear
Quadratic Advanced, its all-in-one ClownModelLoader and TorchCompileModels.

Its TextBox and TextConcatenate nodes appear in shared Wan workflows as plain prompt
holders; its guides, unsampling and other samplers are not run by wfrun.
"""

from . import clownshark, concatenate, extra_options, loaders, options, shark_options, sigmas, text  # noqa: F401
