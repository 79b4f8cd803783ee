"""The one place where write errors and Ctrl-C become a message and an exit code.

Every command runs inside :class:`GuardedGroup`, so none of them has to think about:

* an ``OSError`` (a full disk, a read-only or missing folder, a file where a folder belongs,
  a name too long for the file system): ``error: PATH: what happened`` with a hint, exit 2;
* standard output on a full device or a closed pipe (``> /dev/full``, ``| head``): the
  same, naming standard output, and stdout is pointed at ``/dev/null`` so the interpreter
  does not fail again (with "Exception ignored") while flushing it at exit;
* ``KeyboardInterrupt``: ``interrupted``, exit 130, never a traceback.

:class:`SafePath` refuses, while the arguments are parsed, path options no file system
accepts (a NUL byte, a name over 255 bytes), so they are a usage error naming the option
instead of a traceback from deep inside a command.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import sys
from pathlib import PurePath
from typing import Any

import click

EXIT_USAGE, EXIT_INTERRUPTED = 2, 130

#: Longest file or folder name, in bytes, on the file systems wfrun meets (ext4, xfs, btrfs,
#: tmpfs, NTFS, APFS).
NAME_MAX = 255

_HINTS = {
    errno.ENOSPC: "the disk is full: free some space, or write somewhere else",
    errno.EDQUOT: "your disk quota is used up: free some space, or write somewhere else",
    errno.EROFS: "the file system is read-only: write somewhere else",
    errno.EACCES: "no permission to write there: choose a folder you can write to",
    errno.EPERM: "no permission to write there: choose a folder you can write to",
    errno.ENAMETOOLONG: "the name is too long for this file system: use a shorter one",
    errno.ENOTDIR: "a file stands where a folder is needed: move it away or choose another folder",
    errno.EISDIR: "a folder stands where a file is needed: choose another name",
    errno.EEXIST: "wfrun never overwrites a file it did not make: choose another name",
    errno.ENOENT: "check that the folder exists",
    errno.EIO: "the device reported an input/output error: check the disk",
}


def describe(err: OSError) -> str:
    """``PATH: what happened`` (and a hint on the next line) for an error the user can act on."""
    what = err.strerror or str(err)
    where = err.filename
    text = what if where is None else f"{os.fsdecode(where) if isinstance(where, bytes) else where}: {what}"
    hint = _HINTS.get(err.errno or 0)
    return text + (f"\n  hint: {hint}" if hint else "")


def _say(text: str) -> None:
    """To stderr, which may itself be broken: then there is nobody to tell."""
    try:
        print(text, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def _stdout_broke(err: OSError) -> bool:
    """Whether an error naming no file came from standard output.

    Python's stream errors carry no file name, and a failed buffer may be dropped, so
    stdout is examined: still failing to flush; or, for a broken pipe, connected to a pipe
    or socket; or, for a full device, connected to a device (``/dev/full``) or to a file on
    a file system with no space left."""
    if err.filename is not None:
        return False
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        return True
    try:
        fd = sys.stdout.fileno()
        info = os.fstat(fd)
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return False  # not a real descriptor (tests capture stdout in memory)
    if err.errno == errno.EPIPE:
        return stat.S_ISFIFO(info.st_mode) or stat.S_ISSOCK(info.st_mode)
    if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        if stat.S_ISCHR(info.st_mode):
            return True
        try:
            return os.fstatvfs(fd).f_bavail == 0
        except (OSError, AttributeError):
            return False
    return False


def _stdout_name() -> str:
    """``standard output (/dev/full)`` where the system says what it is connected to."""
    try:
        target = os.readlink(f"/proc/self/fd/{sys.stdout.fileno()}")
    except (OSError, ValueError, AttributeError):
        return "standard output"
    return f"standard output ({target})" if target.startswith("/") else "standard output"


def _silence_stdout() -> None:
    """Point the descriptor behind stdout at /dev/null: what is still buffered then drains
    there when the interpreter flushes at exit, instead of failing a second time."""
    try:
        fd = sys.stdout.fileno()
        null = os.open(os.devnull, os.O_WRONLY)
    except (OSError, ValueError, AttributeError):
        return
    try:
        os.dup2(null, fd)
    except OSError:
        pass
    finally:
        os.close(null)


def report_os_error(err: OSError) -> None:
    if _stdout_broke(err):
        name = _stdout_name()
        _silence_stdout()
        _say(f"error: cannot write to {name}: {err.strerror or err}")
        return
    _say(f"error: {describe(err)}")


def report_interrupt() -> None:
    _say("\ninterrupted")


class GuardedGroup(click.Group):
    """A click group whose commands end with a message and an exit code, never a traceback,
    on write errors and Ctrl-C (see the module docstring)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            try:
                return super().invoke(ctx)
            finally:
                sys.stdout.flush()  # surface a full stdout here, not in the interpreter's exit
        except KeyboardInterrupt:
            report_interrupt()
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
        except OSError as err:
            report_os_error(err)
            raise click.exceptions.Exit(EXIT_USAGE) from None

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Also errors click raises itself (``--help`` printed to a full device)."""
        try:
            return super().main(*args, **kwargs)
        except OSError as err:
            report_os_error(err)
            sys.exit(EXIT_USAGE)


class SafePath(click.Path):
    """:class:`click.Path` that refuses a NUL byte or a name part over ``NAME_MAX`` bytes."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        text = os.fsdecode(value) if isinstance(value, bytes) else str(value)
        if "\0" in text:
            self.fail(f"{text!r} contains a NUL byte, which no file name may hold", param, ctx)
        for part in PurePath(text).parts:
            size = len(os.fsencode(part))
            if size > NAME_MAX:
                self.fail(f"the name {part[:24]}… is {size} bytes long; file systems allow at most "
                          f"{NAME_MAX} per file or folder name", param, ctx)
        return super().convert(value, param, ctx)
