"""calcuis' gguf pack (calcuis/gguf, registry id ``gguf``): its VAE, model and text-encoder loaders."""

from wfrun.packs.calcuis_gguf import loaders, nodes  # noqa: F401
