"""Executors of ClownsharkBatwing's RES4LYF (registry id ``res4lyf``): its text boxes only.

The pack's samplers and guides are not run by wfrun; its TextBox nodes appear in shared
Wan workflows as plain prompt holders.
"""

from . import text  # noqa: F401
