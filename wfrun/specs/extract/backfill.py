"""``python -m wfrun.specs.extract.backfill``: add a signature-level flag the extractor learnt
to read after a spec file was written, without re-walking the pack's history.

A committed spec file may carry hand edits (see its ``source.hand_edits``) and was walked
over a range of history that a new extraction would have to repeat exactly; a flag such as
``input_is_list`` does not change which inputs a signature has, so it can be read on its
own: the pack is read at each signature's own ``first_commit`` (the commit the signature
was recorded at) and the flag copied from the node found there. Signatures whose commit
the repository lacks, or whose node is not found there, keep the flag they have, and are
listed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from wfrun.specs.spec import PackSpecs

from .history import extract_pack

#: Signature fields this tool may refresh (each a boolean the extractors read from the class).
FIELDS = ("input_is_list",)


def backfill(specs: PackSpecs, git_dir: str | Path, field: str, paths: list[str] | None = None,
             progress=None) -> tuple[int, list[str]]:
    """Refresh ``field`` on every signature of ``specs`` in place; returns (signatures
    changed, problems)."""
    if field not in FIELDS:
        raise ValueError(f"unknown field {field!r}; one of {', '.join(FIELDS)}")
    by_commit: dict[str, list[tuple[str, int]]] = {}
    for name, node in specs.nodes.items():
        for index, sig in enumerate(node.signatures):
            if sig.first_commit:
                by_commit.setdefault(sig.first_commit, []).append((name, index))
    changed, problems = 0, []
    for commit, members in sorted(by_commit.items()):
        names = sorted({name for name, _ in members})
        if progress:
            progress(f"{commit[:10]}: {len(names)} node(s)")
        try:
            found = extract_pack(git_dir, specs.pack, paths=paths, rev=commit, head_only=True, only_nodes=names)
        except Exception as err:  # a commit the mirror lacks, a tree the extractor cannot read
            problems.append(f"{commit[:10]}: not read ({err})")
            continue
        for name, index in members:
            node = found.nodes.get(name)
            if node is None or not node.signatures:
                problems.append(f"{commit[:10]}: {name} not found")
                continue
            value = getattr(node.signatures[-1], field)
            sig = specs.nodes[name].signatures[index]
            if getattr(sig, field) != value:
                setattr(sig, field, value)
                changed += 1
    return changed, problems


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m wfrun.specs.extract.backfill", description=__doc__)
    p.add_argument("spec", help="schemas/nodes/<pack>.json to update in place")
    p.add_argument("--git-dir", required=True, help="git directory or checkout of the node pack")
    p.add_argument("--field", default="input_is_list", choices=FIELDS)
    p.add_argument("-q", "--quiet", action="store_true")
    args = p.parse_args(argv)
    raw = json.loads(Path(args.spec).read_text(encoding="utf-8"))
    specs = PackSpecs.model_validate(raw)
    log = None if args.quiet else (lambda msg: print(msg, file=sys.stderr))
    changed, problems = backfill(specs, args.git_dir, args.field, specs.source.get("paths"), log)
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    # the file's own text, the flag set or left out (a default), so hand-ordered keys stay put
    for name, node in specs.nodes.items():
        for sig, saved in zip(node.signatures, raw["nodes"][name]["signatures"]):
            if getattr(sig, args.field):
                saved[args.field] = True
            else:
                saved.pop(args.field, None)
    Path(args.spec).write_text(json.dumps(raw, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{changed} signature(s) changed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
