"""Which release of the pack saved a node: its ``properties.ver`` (a commit or a release
number) placed in the pack's history, to pick the behaviour of that release.

Three changes of WanVacePhantomSimpleV2's output since its first release matter:
``LATENT_SIZE`` (7f287d8, 2025-08-27: width and height are taken from ``latent_in``),
``LANCZOS`` (185817f, 2025-09-12: Phantom images are resized with lanczos, not bilinear)
and ``NOISE_MASK`` (94a3bfd, 2025-12-09: a ``latent_in`` noise mask gets frames for a new
reference). An unknown or absent version gets the newest behaviour.
"""

from __future__ import annotations

#: The pack's first-parent commits, oldest first, from the V2 nodes' first release (2025-08-18).
HISTORY = ("768449c9", "7f287d81", "01743767", "e31f6e77", "80577c55", "6ca3e550", "d4c3b4e3", "6476bf94",
           "737d178f", "6ef83b82", "185817fa", "0021c0dd", "c50f7deb", "437825a1", "749ca588", "2a2d9ae8",
           "559f33d5", "94a3bfde", "a894acc7", "c4e598db", "25d54242", "dc9a6b61", "64be107c", "37351788",
           "16b87bb0", "7c809c84", "b6f5b226")
#: Releases (pyproject ``version``) and their commit.
RELEASES = {"1.1.0": "768449c9", "1.1.1": "e31f6e77", "1.1.2": "6ca3e550", "1.1.3": "737d178f",
            "1.2.0": "0021c0dd", "1.2.1": "c50f7deb", "1.3.0": "559f33d5", "1.4.0": "c4e598db",
            "1.5.0": "b6f5b226"}
LATENT_SIZE, LANCZOS, NOISE_MASK = "7f287d81", "185817fa", "94a3bfde"


def has(ver: str | None, change: str) -> bool:
    """Whether the release that saved the node (``properties.ver``) has ``change``."""
    commit = (ver or "").strip().lower()
    commit = RELEASES.get(commit, commit[:8])
    if commit not in HISTORY:
        return True
    return HISTORY.index(commit) >= HISTORY.index(change)
