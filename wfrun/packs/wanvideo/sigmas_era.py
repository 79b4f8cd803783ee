"""Which of the pack's two ways with custom sigmas a sampler or scheduler node was saved under.

Until 2025-12-03 the pack's ``get_scheduler`` passed a SIGMAS input to diffusers'
``set_timesteps`` for euler/lcm (which shifts it) and ignored it elsewhere except
unipc/dpm++. On 2025-12-04 kijai merged cmeka's "Fix custom sigmas for supported
schedulers" (PR 1510, merge commit faf9c59): from then on every scheduler that accepts
custom sigmas uses them as given, unshifted (``_apply_custom_sigmas``). The two give other
videos whenever the shift is not 1, so wfrun follows the version the node was saved with
(``sampling.schedulers.build_schedule(sigmas_as_given=...)``):

- ``properties.ver`` naming a pack commit wfrun knows: that commit's date (the side branch
  of the PR, 2025-10-21, already had it; of the 2025-12-04 commits those from the merge on);
- else the date of the node signature the file was read with (``ExecContext.saved_date``):
  a signature first seen on or after 2025-12-04 is the new way, one that ended before it
  the old; a signature that spans the change (WanVideoSampler's and WanVideoScheduler's of
  2025-12-02, in the pack until 2025-12-23) leaves it open, and the caller refuses custom
  sigmas where the two ways differ;
- no saved version (an API prompt): the pack's newest behaviour, as everywhere in wfrun.
"""

from __future__ import annotations

from functools import cache

from wfrun.nodes.executor import ExecContext
from wfrun.nodes.saved import saved_version

PACK = "ComfyUI-WanVideoWrapper"
#: The merge that brought ``_apply_custom_sigmas`` to the pack's main branch (2025-12-04).
AS_GIVEN_SINCE = "2025-12-04"
#: Commits dated before 2025-12-05 whose scheduler code already takes sigmas as given: the
#: PR's own (2025-10-21) and 2025-12-04's from the merge on (9d0a212, a side branch merged
#: later that day, and the three commits before the merge do not).
AS_GIVEN_EARLY = ("425035d", "f653544", "faf9c59", "7189922", "001bc0e", "2dd4c6b", "e2333d0")


@cache
def _commit_dates() -> dict[str, str]:
    from wfrun.specs.registry import default_registry

    spec = default_registry().packs.get(PACK)
    commits = spec.source.get("commits", []) if spec is not None else []
    return {str(sha): str(date) for sha, date in commits}


def _by_commit(ver: str) -> bool | None:
    ver = ver.strip().lower()
    if len(ver) < 7 or any(c not in "0123456789abcdef" for c in ver):
        return None
    if any(ver.startswith(sha) for sha in AS_GIVEN_EARLY):
        return True
    date = next((d for sha, d in _commit_dates().items() if sha.startswith(ver)), None)
    if date is None:
        return None
    return date > AS_GIVEN_SINCE


def _signature_end(class_type: str, saved_date: str) -> str | None:
    """The date the signature first seen on ``saved_date`` was replaced (None: never)."""
    from wfrun.specs.registry import default_registry

    spec = next((s for s in default_registry().specs_of(class_type) if s.pack == PACK), None)
    if spec is None:
        return None
    later = [str(s.date) for s in spec.signatures if s.date and str(s.date) > saved_date]
    return min(later) if later else None


def sigmas_as_given(ctx: ExecContext, class_type: str) -> bool | None:
    """True: the pack's 2025-12-04 way (sigmas as given); False: the earlier one; None: the
    node's saved signature spans the change and it has no ``properties.ver`` to settle it."""
    ver = saved_version(ctx.workflow_json, ctx.node_id)
    if ver:
        known = _by_commit(ver)
        if known is not None:
            return known
    date = ctx.saved_date
    if date is None:
        return True
    date = str(date)
    if date >= AS_GIVEN_SINCE:
        return True
    end = _signature_end(class_type, date)
    if end is not None and end <= AS_GIVEN_SINCE:
        return False
    return None
