"""Just enough git plumbing to walk a repository's history without a work tree.

The history walk reads hundreds of commits, so it asks git for everything in bulk: one
``git log --raw`` for every file change along the first-parent line, one ``ls-tree`` for
the starting tree, and one long-lived ``git cat-file --batch`` for blob contents.
Works on bare repositories (the ``fetch`` mirrors) and on normal checkouts alike.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path


class GitError(RuntimeError):
    """git failed, or is missing; the message says which command and why."""


class ExtractArgumentError(ValueError):
    """A bad argument to the extractor (not a git repository, a revision or date that names
    no commit): a usage error, reported in one line without a traceback."""


@dataclass
class Commit:
    sha: str
    date: str  # committer date, YYYY-MM-DD
    #: (path, new blob id or None when deleted), relative to the first parent
    changes: list[tuple[str, str | None]] = field(default_factory=list)


class GitRepo:
    def __init__(self, git_dir: str | Path):
        path = Path(git_dir)
        if (path / ".git").exists():
            path = path / ".git"
        self.git_dir = str(path)
        self._cat: subprocess.Popen[bytes] | None = None
        self._given = str(Path(git_dir).absolute())

    def _git(self, *args: str) -> str:
        try:
            proc = subprocess.run(
                ["git", "--git-dir", self.git_dir, *args],
                capture_output=True,
                check=False,
            )
        except OSError as err:
            raise GitError(f"cannot run git ({err.strerror}); install git and put it on PATH") from None
        if proc.returncode != 0:
            raise GitError(f"git {' '.join(args)}: {proc.stderr.decode(errors='replace').strip()}")
        return proc.stdout.decode("utf-8", "surrogateescape")

    def check(self) -> None:
        """Raise ExtractArgumentError unless the folder is a git repository (checkout or bare)."""
        try:
            self._git("rev-parse", "--git-dir")
        except GitError as err:
            if "not a git repository" not in str(err):
                raise
            raise ExtractArgumentError(
                f"{self._given}: not a git repository; give a clone of the node pack (a checkout or a bare "
                "repository)") from None

    def resolve(self, rev: str, option: str = "--rev") -> str:
        """The commit id ``rev`` names; ExtractArgumentError (naming ``option``) if none."""
        if not rev or rev.startswith("-") or any(c in rev for c in "\0\n"):
            raise ExtractArgumentError(f"{option} {rev!r}: not a revision; give a branch, tag or commit id")
        try:
            return self._git("rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}").strip()
        except GitError:
            raise ExtractArgumentError(
                f"{option} {rev!r}: names no commit in {self._given}; give a branch, tag or commit id "
                "(`git log --oneline` lists them)") from None

    def first_parent_log(self, rev: str = "HEAD") -> list[Commit]:
        """Commits on the first-parent line of ``rev``, oldest first, with their changes
        against the first parent (merges included that way)."""
        out = self._git(
            "log", "--reverse", "--first-parent", "--diff-merges=first-parent", "--raw",
            "--no-renames", "--no-abbrev", "-z", "--format=%x01%H %cs", rev,
        )
        commits: list[Commit] = []
        for chunk in out.split("\x01")[1:]:
            header, _, rest = chunk.partition("\x00")
            if "\n" in header:
                header, _, tail = header.partition("\n")
                rest = tail + "\x00" + rest if tail else rest
            sha, date = header.split()
            commit = Commit(sha, date)
            fields = [f for f in rest.split("\x00")]
            i = 0
            while i < len(fields):
                meta = fields[i].strip("\n")
                if not meta.startswith(":"):
                    i += 1
                    continue
                parts = meta[1:].split()
                path = fields[i + 1] if i + 1 < len(fields) else ""
                i += 2
                if len(parts) < 5:
                    continue
                new_blob, status = parts[3], parts[4]
                commit.changes.append((path, None if status.startswith("D") else new_blob))
            commits.append(commit)
        return commits

    def all_commits_log(self, rev: str = "HEAD") -> list[Commit]:
        """Every commit reachable from ``rev`` in git's default order, oldest first,
        each with its changes against the commit before it *in that order* (not its
        parent), so replaying them one after the other always gives that commit's
        tree. Side-branch commits are interleaved by date, as ``git log`` shows them."""
        out = self._git("log", "--reverse", "--format=%H %T %cs", rev)
        rows = [line.split() for line in out.splitlines() if line.strip()]
        commits = [Commit(sha, date) for sha, _tree, date in rows]
        if len(rows) < 2:
            return commits
        pairs = "".join(f"{a[1]} {b[1]}\n" for a, b in zip(rows, rows[1:]))
        proc = subprocess.run(
            ["git", "--git-dir", self.git_dir, "diff-tree", "--stdin", "-r", "--no-renames", "-z"],
            input=pairs.encode(), capture_output=True, check=False,
        )
        if proc.returncode != 0:
            raise GitError(proc.stderr.decode(errors="replace").strip())
        by_pair: dict[tuple[str, str], list[tuple[str, str | None]]] = {}
        current: list[tuple[str, str | None]] | None = None
        tokens = proc.stdout.decode("utf-8", "surrogateescape").split("\x00")
        i = 0
        while i < len(tokens):
            tok = tokens[i]
            while "\n" in tok and not tok.startswith(":"):
                # a pair's header line; pairs without changes print only the header
                header, _, tok = tok.partition("\n")
                a, b = header.split()[:2]
                current = by_pair.setdefault((a, b), [])
            if tok.startswith(":") and current is not None and i + 1 < len(tokens):
                parts = tok[1:].split()
                path = tokens[i + 1]
                i += 2
                if len(parts) >= 5:
                    current.append((path, None if parts[4].startswith("D") else parts[3]))
                continue
            i += 1
        for prev, (row, commit) in zip(rows, zip(rows[1:], commits[1:])):
            commit.changes = by_pair.get((prev[1], row[1]), [])
        return commits

    def ls_tree(self, commit: str) -> dict[str, str]:
        """path -> blob id of every file of a commit."""
        out = self._git("ls-tree", "-r", "-z", "--full-tree", commit)
        files: dict[str, str] = {}
        for entry in out.split("\x00"):
            if not entry:
                continue
            meta, _, path = entry.partition("\t")
            mode, kind, blob = meta.split()
            if kind == "blob":
                files[path] = blob
        return files

    def read_blob(self, blob: str) -> bytes:
        if self._cat is None or self._cat.poll() is not None:
            self._cat = subprocess.Popen(
                ["git", "--git-dir", self.git_dir, "cat-file", "--batch"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            )
        assert self._cat.stdin is not None and self._cat.stdout is not None
        self._cat.stdin.write(blob.encode() + b"\n")
        self._cat.stdin.flush()
        header = self._cat.stdout.readline().decode()
        parts = header.split()
        if len(parts) != 3:
            raise GitError(f"cannot read blob {blob}: {header.strip()}")
        size = int(parts[2])
        data = self._cat.stdout.read(size)
        self._cat.stdout.read(1)  # trailing newline
        return data

    def close(self) -> None:
        if self._cat is not None:
            if self._cat.stdin:
                self._cat.stdin.close()
            self._cat.wait()
            self._cat = None

    def __enter__(self) -> GitRepo:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
