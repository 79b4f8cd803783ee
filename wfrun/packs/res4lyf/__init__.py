"""Executors of ClownsharkBatwing's RES4LYF (registry id ``res4lyf``): its text boxes and
TextConcatenate only.

The pack's samplers and guides are not run by wfrun; its TextBox and TextConcatenate
nodes appear in shared Wan workflows as plain prompt holders.
"""

from . import concatenate, options, text  # noqa: F401
