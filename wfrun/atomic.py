"""Writing files so that a name the user sees only ever holds a complete file.

Every file wfrun writes for the user (migrated workflows and their backups, images, videos)
is first written under a temporary name in the same folder, synced to disk, and only then
given its final name in one step. A full disk, an error, Ctrl-C or a crash therefore never
leaves a 0-byte or half-written file under a real name, and the temporary is removed on
every failure path that runs any code. Only SIGKILL or a power cut can leave one behind:
hidden, named ``.<name>.<random>.part<ext>`` (the extension kept, since Pillow and ffmpeg
choose the format by it).

Publishing without ``replace`` uses a hard link, which fails when the name exists: a file
that appeared meanwhile (another run took the same counter) is never overwritten. On file
systems without hard links it falls back to check-then-rename.

This module sits on the ground floor beside ``formats`` and ``media`` and imports neither:
both use it.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

#: ``link`` errors that mean "this file system has no hard links", not "the name exists".
_NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK}


def temp_beside(final: str | os.PathLike[str]) -> Path:
    """A fresh, hidden name in ``final``'s folder that keeps its extension.

    The stem is cut short so the temporary fits wherever the final name fits."""
    final = Path(final)
    suffix = final.suffix if len(final.suffix) <= 16 else ""
    return final.with_name(f".{final.name[:40]}.{secrets.token_hex(4)}.part{suffix}")


def sync_file(path: str | os.PathLike[str]) -> None:
    """Flush a written file's data to the disk (also one a subprocess wrote)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_folder(folder: str | os.PathLike[str]) -> None:
    """Make a rename in ``folder`` durable; a no-op where folders cannot be synced."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_quietly(path: str | os.PathLike[str]) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def publish(temp: str | os.PathLike[str], final: str | os.PathLike[str], *, replace: bool = False) -> Path:
    """Give the complete file ``temp`` the name ``final`` (same folder) in one step.

    Without ``replace`` an existing ``final`` (a file, a folder, a dangling symlink) raises
    :class:`FileExistsError` and is left alone."""
    temp, final = Path(temp), Path(final)
    if replace:
        os.replace(temp, final)
    else:
        try:
            os.link(temp, final)
        except FileExistsError:
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(final)) from None
        except OSError as err:
            if err.errno not in _NO_HARD_LINKS:
                raise
            if os.path.lexists(final):
                raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(final)) from None
            os.rename(temp, final)
        else:
            remove_quietly(temp)
    sync_folder(final.parent)
    return final


def publish_first_free(temp: str | os.PathLike[str], names: Iterable[Path]) -> Path:
    """:func:`publish` under the first of ``names`` that does not exist yet."""
    last: Path | None = None
    for name in names:
        last = Path(name)
        try:
            return publish(temp, name)
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "every name wfrun may use here is taken; remove some", str(last))


def copy_owner_and_mode(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Give ``target`` the permission bits of ``source`` and, where allowed, its owner."""
    info = os.stat(source)
    try:
        os.chown(target, info.st_uid, info.st_gid)
    except OSError:
        pass  # not allowed to give a file away: it keeps ours
    os.chmod(target, stat.S_IMODE(info.st_mode))


def name_the_file(err: OSError, final: str | os.PathLike[str], temp: str | os.PathLike[str]) -> OSError:
    """An error from writing (which names no file, or the temporary) names the final file:
    that is the name the user knows."""
    if err.filename is None or os.fspath(err.filename) == os.fspath(temp):
        err.filename = os.fspath(final)
        err.filename2 = None
    return err


@contextmanager
def writing(final: str | os.PathLike[str], *, replace: bool = False,
            like: str | os.PathLike[str] | None = None) -> Iterator[Path]:
    """Yield a fresh temporary path beside ``final`` for a writer (Python, Pillow, ffmpeg) to
    create and fill. When the block ends normally the file is synced, given the mode and
    owner of ``like`` if given, and published as ``final``; when it raises (an OSError,
    Ctrl-C, anything) the temporary is removed and ``final`` is untouched."""
    temp = temp_beside(final)
    try:
        yield temp
        sync_file(temp)
        if like is not None:
            copy_owner_and_mode(like, temp)
        publish(temp, final, replace=replace)
    except OSError as err:
        raise name_the_file(err, final, temp)
    finally:
        remove_quietly(temp)


def write_bytes(final: str | os.PathLike[str], data: bytes, *, replace: bool = False,
                like: str | os.PathLike[str] | None = None) -> Path:
    """Write ``data`` as ``final`` through :func:`writing`."""
    with writing(final, replace=replace, like=like) as temp:
        with open(temp, "xb") as handle:
            handle.write(data)
    return Path(final)
