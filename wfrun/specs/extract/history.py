"""Walk a pack's git history and record every input signature each node ever had.

A workflow stores widget values by position, so reading an old file needs the
signature the node had when it was saved. We therefore replay the first-parent history
(the line of commits a user updating the pack actually got), oldest first, and record a
new :class:`Signature` whenever a node's inputs or outputs differ from the last one,
tagged with that commit and its date.

Only what changed is redone: parsed files are cached by blob id, and a commit is
re-evaluated only when it touches a file that the previous evaluation read, a file
under the scanned paths, or adds/removes a Python file (which can change what an
import resolves to). On WanVideoWrapper's ~570 first-parent commits this keeps the
whole walk to seconds.
"""

from __future__ import annotations

import ast
import json
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import date as _date
from pathlib import Path
from typing import Any, Callable, Iterable

from wfrun.specs.spec import NodeSpec, PackSpecs, Signature

from .gitrepo import Commit, ExtractArgumentError, GitRepo
from .project import ChunkParser, ParsedFile, Project
from .snapshot import NodeState, Snapshot, extract_snapshot, match_paths

TOOL = "wfrun.specs.extract"


@dataclass
class _NodeHistory:
    class_type: str
    signatures: list[Signature] = field(default_factory=list)
    last_key: str | None = None
    display_name: str | None = None
    category: str | None = None
    deprecated: bool = False
    present_at_head: bool = False


def _signature_key(sig: Signature) -> str:
    return json.dumps(sig.model_dump(mode="json", exclude_defaults=True, exclude={"first_commit", "date"}),
                      sort_keys=True)


class _BlobCache:
    """Files by blob id, parsed on first use with a shared :class:`ChunkParser`; a
    file that stops parsing keeps its last good tree (a commit with a syntax error did
    not remove the pack's nodes for the users who had an earlier one)."""

    def __init__(self, repo: GitRepo):
        self.repo = repo
        self.parser = ChunkParser()
        self.by_blob: dict[str, ParsedFile] = {}
        self.last_good: dict[str, ast.Module] = {}

    def get(self, path: str, blob: str) -> ParsedFile:
        key = f"{blob}:{path}"
        parsed = self.by_blob.get(key)
        if parsed is None:
            parsed = ParsedFile.from_bytes(self.repo.read_blob(blob), path, self._parse)
            self.by_blob[key] = parsed
        return parsed

    def _parse(self, text: str, path: str) -> ast.Module | None:
        tree = self.parser.parse(text, path)
        if tree is None:
            return self.last_good.get(path)
        self.last_good[path] = tree
        return tree


def _may_register(text: str) -> bool:
    """Whether a file not read last time could now add nodes."""
    return "NODE_CLASS_MAPPINGS" in text or "get_node_list" in text


def _select_commits(commits: list[Commit], since: str | None, until: str | None) -> list[Commit]:
    """Keep commits from ``since`` to ``until`` (each a YYYY-MM-DD date or a commit id
    prefix, both ends included); a bad bound or an empty range is an ExtractArgumentError."""

    def index(ref: str, after: bool) -> int:
        option = "--since" if after else "--until"
        if _is_date(ref):
            idx = [i for i, c in enumerate(commits) if (c.date >= ref if after else c.date <= ref)]
            if not idx:
                return len(commits) if after else -1
            return idx[0] if after else idx[-1]
        if not _COMMIT_PREFIX.fullmatch(ref):
            raise ExtractArgumentError(f"{option} {ref!r}: not a date (YYYY-MM-DD) or a commit id (4 to 40 hex digits)")
        matches = [i for i, c in enumerate(commits) if c.sha.startswith(ref.lower())]
        if len(matches) > 1:
            raise ExtractArgumentError(f"{option} {ref!r}: names {len(matches)} commits; give more digits")
        if not matches:
            raise ExtractArgumentError(f"{option} {ref!r}: no such commit on the walked history "
                                       f"({commits[0].date} to {commits[-1].date})" if commits else
                                       f"{option} {ref!r}: the history is empty")
        return matches[0]

    lo = index(since, True) if since else 0
    hi = index(until, False) if until else len(commits) - 1
    if lo > hi and commits:
        given = " and ".join(f"{option} {value!r}" for option, value in (("--since", since), ("--until", until))
                             if value)
        raise ExtractArgumentError(
            f"{given}: no commit in that range (the history runs from {commits[0].date} to {commits[-1].date}); "
            "widen the range")
    return commits[lo: hi + 1]


_COMMIT_PREFIX = re.compile(r"[0-9a-fA-F]{4,40}")


def _is_date(ref: str) -> bool:
    try:
        _date.fromisoformat(ref)
        return True
    except ValueError:
        return False


def _read_only_nodes(only_nodes: str | Iterable[str] | None) -> set[str] | None:
    """A list, a comma-separated string, or a file (JSON list or one name a line)."""
    if only_nodes is None:
        return None
    if isinstance(only_nodes, str):
        path = Path(only_nodes)
        if path.is_file():
            text = path.read_text()
            try:
                data = json.loads(text)
            except json.JSONDecodeError:
                return {line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")}
            if isinstance(data, dict):
                data = list(data)
            return {str(x) for x in data}
        return {x.strip() for x in only_nodes.split(",") if x.strip()}
    return set(only_nodes)


def extract_pack(
    git_dir: str | Path,
    pack: str,
    *,
    cnr_id: str | None = None,
    repo: str | None = None,
    paths: list[str] | None = None,
    rev: str = "HEAD",
    since: str | None = None,
    until: str | None = None,
    only_nodes: str | Iterable[str] | None = None,
    head_only: bool = False,
    all_commits: bool = False,
    note: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> PackSpecs:
    """Extract every node's signature history of one pack from its git repository.

    ``paths`` are globs of the files to scan for nodes (default: every ``*.py``);
    imports resolve against the whole tree regardless. ``rev`` is the newest commit to
    read; ``since``/``until`` narrow the walk (date or commit). ``head_only`` reads just
    ``rev`` (one signature per node, still tagged with that commit). ``only_nodes``
    keeps just those class types in the output. ``all_commits`` walks every commit
    (side branches too, interleaved by date as ``git log`` lists them) instead of the
    first-parent line, so a workflow saved on a branch commit (its ``properties.ver``)
    still finds the signature it was saved with. ``note`` is kept in ``source`` (say
    where the repository came from when it is a mirror or a fork).
    """
    started = time.monotonic()
    wanted = _read_only_nodes(only_nodes)
    with GitRepo(git_dir) as git:
        git.check()
        head = git.resolve(rev)
        if head_only:
            commits = [Commit(head, _commit_date(git, head))]
        else:
            log = git.all_commits_log(head) if all_commits else git.first_parent_log(head)
            commits = _select_commits(log, since, until)
            if not commits:
                raise ExtractArgumentError(f"{rev!r} has no commits to read")
        cache = _BlobCache(git)
        tree: dict[str, str] = {p: b for p, b in git.ls_tree(commits[0].sha).items() if p.endswith(".py")}
        histories: dict[str, _NodeHistory] = {}
        last: Snapshot | None = None
        evaluated = 0
        problems: list[str] = []
        for i, commit in enumerate(commits):
            if i > 0:
                changed = [(p, b) for p, b in commit.changes if p.endswith(".py")]
                if not changed:
                    continue
                added_or_removed = False
                for p, b in changed:
                    if b is None:
                        added_or_removed |= tree.pop(p, None) is not None
                    else:
                        added_or_removed |= p not in tree
                        tree[p] = b
                scan_set = set(match_paths(tree, paths))
                relevant = added_or_removed or any(
                    p in last.used_paths  # type: ignore[union-attr]
                    or (p in scan_set and b is not None and _may_register(cache.get(p, b).text))
                    for p, b in changed
                )
                if not relevant:
                    continue
            scan = match_paths(tree, paths)
            snapshot_files = dict(tree)
            project = Project(snapshot_files, lambda p, _t=snapshot_files: cache.get(p, _t[p]))
            last = extract_snapshot(project, scan)
            evaluated += 1
            _record(histories, last, commit)
            if progress is not None and (evaluated % 50 == 0):
                progress(f"{commit.date} {commit.sha[:10]}: {len(last.nodes)} nodes")
        if last is not None:
            problems = last.problems
        for h in histories.values():
            h.present_at_head = last is not None and h.class_type in last.nodes

    nodes: dict[str, NodeSpec] = {}
    for class_type in sorted(histories):
        h = histories[class_type]
        if wanted is not None and class_type not in wanted:
            continue
        if not h.signatures:
            problems.append(f"{class_type}: inputs never evaluable; left out")
            continue
        nodes[class_type] = NodeSpec(
            class_type=class_type,
            pack=pack,
            display_name=h.display_name,
            category=h.category,
            deprecated=h.deprecated or not h.present_at_head,
            signatures=h.signatures,
        )
    source: dict[str, Any] = {
        "tool": TOOL,
        "repo": repo,
        "note": note,
        "rev": head,
        "first_commit": commits[0].sha,
        "first_date": commits[0].date,
        "last_commit": commits[-1].sha,
        "last_date": commits[-1].date,
        "commits_walked": len(commits),
        "commits_evaluated": evaluated,
        "head_only": head_only,
        "walk": "head" if head_only else "all-commits" if all_commits else "first-parent",
        # Every walked commit in walk order: a saved ``properties.ver`` is looked up here
        # to pick the signature the node had when the file was saved.
        "commits": [[c.sha, c.date] for c in commits],
    }
    if paths:
        source["paths"] = list(paths)
    if wanted is not None:
        source["only_nodes"] = sorted(wanted)
    if problems:
        source["problems"] = sorted(set(problems))
    source = {k: v for k, v in source.items() if v is not None}
    if progress is not None:
        progress(f"{pack}: {len(nodes)} nodes, {sum(len(n.signatures) for n in nodes.values())} signatures, "
                 f"{len(commits)} commits ({evaluated} evaluated) in {time.monotonic() - started:.1f}s")
    return PackSpecs(pack=pack, cnr_id=cnr_id, source=source, nodes=nodes)


def _commit_date(git: GitRepo, sha: str) -> str:
    return git._git("show", "-s", "--format=%cs", sha).strip()


def _record(histories: dict[str, _NodeHistory], snap: Snapshot, commit: Commit) -> None:
    for class_type, state in snap.nodes.items():
        h = histories.get(class_type)
        if h is None:
            h = histories[class_type] = _NodeHistory(class_type)
        _update_meta(h, state)
        if state.signature is None:
            continue
        key = _signature_key(state.signature)
        if key != h.last_key:
            sig = state.signature.model_copy(update={"first_commit": commit.sha, "date": commit.date})
            h.signatures.append(sig)
            h.last_key = key


def _update_meta(h: _NodeHistory, state: NodeState) -> None:
    """Display name, category and deprecation follow the newest snapshot."""
    h.display_name = state.display_name
    h.category = state.category
    h.deprecated = state.deprecated


def write_pack(specs: PackSpecs, path: str | Path) -> None:
    """The committed file format: compact-ish JSON, defaults left out."""
    data = specs.model_dump(mode="json", exclude_defaults=True)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)
