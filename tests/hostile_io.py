"""A disk that fills up, and a process killed mid-write, for the data-loss tests.

Every write that Python code sends to a file under a chosen folder is counted: files opened
with ``open``/``io.open``/``os.fdopen``/``Path.open`` in a writing mode, and ``os.sendfile``
(shutil's fast copy). Once ``budget`` bytes went through, the next write either raises
``OSError(ENOSPC)`` like a full disk (after writing what still fitted, as the kernel does)
or kills the process with SIGKILL. With ``action="readonly"`` the folder acts as a
read-only mount instead (which root cannot get from chmod): creating or opening a file for
writing in it fails with EROFS, also through ``os.open`` (``tempfile``). Writes by other
processes (ffmpeg) are not seen.

The wrapped file objects are real buffered files over the real descriptor, so the error
surfaces where it does on a real full disk: often only at ``flush``/``close``.
"""

from __future__ import annotations

import builtins
import errno
import io
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable


@dataclass
class Disk:
    folder: Path
    budget: int
    action: str = "enospc"  # or "kill", or "readonly"
    #: called before every counted write (the tests check the final names there)
    watch: Callable[[], None] | None = None
    written: int = 0
    calls: int = 0
    refused: list[str] = field(default_factory=list)

    def allow(self, wanted: int) -> int:
        """How many of ``wanted`` bytes fit; raises (or kills) when none do."""
        self.calls += 1
        if self.watch is not None:
            self.watch()
        room = self.budget - self.written
        if room <= 0 and wanted > 0:
            if self.action == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            self.refused.append("write")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return min(wanted, room)

    def covers(self, file: Any) -> bool:
        try:
            if isinstance(file, int):
                file = os.readlink(f"/proc/self/fd/{file}")
            path = Path(os.path.abspath(os.fsdecode(file)))
        except (OSError, TypeError, ValueError):
            return False
        return path == self.folder or self.folder in path.parents


class _Raw(io.RawIOBase):
    """A write-only descriptor whose writes are limited by the disk's budget."""

    def __init__(self, fd: int, disk: Disk, closefd: bool, name: Any):
        self._fd, self._disk, self._closefd = fd, disk, closefd
        self.name = name

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        take = self._disk.allow(len(view))
        done = os.write(self._fd, view[:take])
        self._disk.written += done
        return done

    def close(self) -> None:
        if not self.closed and self._closefd:
            os.close(self._fd)
        super().close()


_FLAGS = {"w": os.O_CREAT | os.O_TRUNC | os.O_WRONLY, "x": os.O_CREAT | os.O_EXCL | os.O_WRONLY,
          "a": os.O_CREAT | os.O_APPEND | os.O_WRONLY}


def install(disk: Disk, setattr_: Callable[[Any, str, Any], None]) -> None:
    """Route writes under ``disk.folder`` through ``disk``; ``setattr_`` is pytest's
    ``monkeypatch.setattr`` (undone after the test) or plain ``setattr`` in a child process."""
    real_open, real_sendfile, real_os_open = io.open, os.sendfile, os.open

    def refuse(file: Any) -> None:
        disk.refused.append(os.fsdecode(file) if not isinstance(file, int) else str(file))
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), file)

    def fake_os_open(path: Any, flags: int, mode: int = 0o777, *, dir_fd: Any = None) -> int:
        writes = flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
        if disk.action == "readonly" and writes and disk.covers(path):
            refuse(path)
        return real_os_open(path, flags, mode, dir_fd=dir_fd)

    def fake_open(file: Any, mode: str = "r", buffering: int = -1, encoding: str | None = None,
                  errors: str | None = None, newline: str | None = None, closefd: bool = True,
                  opener: Any = None) -> Any:
        kind = mode.replace("b", "").replace("t", "")
        if kind not in _FLAGS or not disk.covers(file):
            return real_open(file, mode, buffering, encoding, errors, newline, closefd, opener)
        if disk.action == "readonly":
            refuse(file)
        fd = file if isinstance(file, int) else os.open(file, _FLAGS[kind], 0o666)
        buffered = io.BufferedWriter(_Raw(fd, disk, closefd if isinstance(file, int) else True, file))
        if "b" in mode:
            return buffered
        return io.TextIOWrapper(buffered, encoding=encoding or "utf-8", errors=errors, newline=newline)

    def fake_sendfile(out_fd: int, in_fd: int, offset: Any, count: int) -> int:
        if not disk.covers(out_fd):
            return real_sendfile(out_fd, in_fd, offset, count)
        sent = real_sendfile(out_fd, in_fd, offset, disk.allow(count))
        disk.written += sent
        return sent

    setattr_(builtins, "open", fake_open)
    setattr_(io, "open", fake_open)
    setattr_(os, "sendfile", fake_sendfile)
    setattr_(os, "open", fake_os_open)
