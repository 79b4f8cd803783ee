"""calcuis' gguf pack (calcuis/gguf, registry id ``gguf``): only its VAE loader so far."""

from wfrun.packs.calcuis_gguf import nodes  # noqa: F401
