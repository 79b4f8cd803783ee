"""``python -m wfrun.specs.extract``: write ``schemas/nodes/<pack>.json`` from a git repo.

Kept on argparse so it runs without the rest of the CLI; ``wfrun specs extract`` wraps
the same :func:`extract_pack`.
"""

from __future__ import annotations

import argparse
import sys

from .history import extract_pack, write_pack


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m wfrun.specs.extract", description=__doc__)
    p.add_argument("--git-dir", required=True, help="git directory or checkout of the node pack")
    p.add_argument("--pack", required=True, help="pack name (the output's `pack` field)")
    p.add_argument("--cnr-id", help="Comfy registry id that saved workflows carry as properties.cnr_id")
    p.add_argument("--repo", help="owner/name of the repository, recorded in `source`")
    p.add_argument("--note", help="free text recorded in `source` (e.g. which mirror or fork was read)")
    p.add_argument("--paths", nargs="+", metavar="GLOB",
                   help="files to scan for nodes (fnmatch globs; `*` crosses `/`); default: all *.py")
    p.add_argument("--rev", default="HEAD", help="newest commit to read (default HEAD)")
    p.add_argument("--since", help="first commit to walk: YYYY-MM-DD or commit id")
    p.add_argument("--until", help="last commit to walk: YYYY-MM-DD or commit id")
    p.add_argument("--only-nodes", help="keep only these class types: comma list, or a file (JSON list / one a line)")
    p.add_argument("--head-only", action="store_true", help="read only --rev, no history")
    p.add_argument("--all-commits", action="store_true",
                   help="walk every commit (side branches too, by date) instead of the first-parent line")
    p.add_argument("-o", "--output", required=True, help="output JSON file")
    p.add_argument("-q", "--quiet", action="store_true")
    args = p.parse_args(argv)

    def progress(msg: str) -> None:
        if not args.quiet:
            print(msg, file=sys.stderr)

    try:
        specs = extract_pack(
            args.git_dir, args.pack, cnr_id=args.cnr_id, repo=args.repo, paths=args.paths,
            rev=args.rev, since=args.since, until=args.until, only_nodes=args.only_nodes,
            head_only=args.head_only, all_commits=args.all_commits, note=args.note,
            progress=progress,
        )
    except (ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    write_pack(specs, args.output)
    for problem in specs.source.get("problems", []):
        progress(f"warning: {problem}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
