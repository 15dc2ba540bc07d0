"""Moving unusable files aside: never overwriting, never losing one.

A quarantined file keeps its name (``name.hdf5``, then ``name.1.hdf5``,
``name.2.hdf5`` ... if taken) and gets a reason file beside it
(``<name>.reason.txt``: the reason, where it came from, when), so the folder
explains itself without the database.

Order of operations (see :mod:`dsa110_contimg.ingest.index`): the reason file
is written, then the file is moved, then its row is committed. A crash or a
database error between the move and the commit leaves a file in quarantine
without a row; :func:`unrecorded` finds such files and the indexer records
them with the reason read back from the reason file. At every instant the
file exists under exactly one of its two names, so none is ever lost.
"""

from __future__ import annotations

import datetime as dt
import errno
import itertools
import logging
import os
import shutil
from pathlib import Path

from dsa110_contimg.atomic import atomic_output
from dsa110_contimg.errors import ProductExistsError

log = logging.getLogger(__name__)

#: Suffix of the text file holding a quarantined file's reason.
REASON_SUFFIX = ".reason.txt"

# errors after which os.link cannot be used and a copy is made instead
_NO_LINK = {errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK}


def reason_file(path: Path) -> Path:
    """The reason file of a quarantined file."""
    return path.with_name(path.name + REASON_SUFFIX)


def _candidate(folder: Path, name: str, attempt: int) -> Path:
    if attempt == 0:
        return folder / name
    stem, dot, suffix = name.rpartition(".")
    return folder / (f"{stem}.{attempt}.{suffix}" if dot else f"{name}.{attempt}")


def _move_no_clobber(src: Path, dest: Path) -> None:
    """Move ``src`` to ``dest``; FileExistsError if ``dest`` exists (never replaced)."""
    try:
        os.link(src, dest)  # atomic, fails if dest exists
    except OSError as exc:
        if exc.errno not in _NO_LINK:
            raise
        try:
            with atomic_output(dest) as tmp:  # another file system: copy, then rename
                shutil.copy2(src, tmp)
        except ProductExistsError:
            raise FileExistsError(errno.EEXIST, "exists", str(dest)) from exc
    os.unlink(src)


def move_to_quarantine(path: Path, folder: Path, reason: str, *, now: float) -> Path:
    """Move ``path`` into ``folder`` under a free name, with its reason file.

    Parameters
    ----------
    path
        The file to move.
    folder
        The quarantine folder (created if missing).
    reason
        Why; written to the reason file.
    now
        Clock time (POSIX s) written to the reason file.

    Returns
    -------
    Path
        Where the file now is.
    """
    folder.mkdir(parents=True, exist_ok=True)
    when = dt.datetime.fromtimestamp(now, dt.UTC).isoformat(timespec="seconds")
    for attempt in itertools.count():
        dest = _candidate(folder, path.name, attempt)
        note = reason_file(dest)
        if dest.exists() or note.exists():
            continue
        try:
            with open(note, "x", encoding="utf-8") as fh:
                fh.write(f"{reason}\noriginal path: {path}\nquarantined at: {when}\n")
        except FileExistsError:
            continue
        try:
            _move_no_clobber(path, dest)
        except FileExistsError:
            note.unlink(missing_ok=True)
            continue
        except BaseException:
            note.unlink(missing_ok=True)
            raise
        log.warning("quarantined %s -> %s: %s", path, dest, reason)
        return dest
    raise AssertionError("unreachable")  # pragma: no cover


def read_reason(path: Path) -> str:
    """The reason recorded beside a quarantined file (its first line)."""
    try:
        text = reason_file(path).read_text(encoding="utf-8")
    except OSError:
        return "found in quarantine without a reason file"
    return text.splitlines()[0] if text.strip() else "found in quarantine with an empty reason"


def unrecorded(folder: Path, recorded: set[str], *, now: float, grace_s: float) -> list[Path]:
    """Files in the quarantine folder that no row records, older than ``grace_s``.

    The grace period (measured from the reason file's mtime, else the
    file's) leaves alone a file another process is quarantining right now.
    """
    if not folder.is_dir():
        return []
    found = []
    for entry in sorted(folder.iterdir()):
        name = entry.name
        if name.startswith(".") or name.endswith(REASON_SUFFIX) or not entry.is_file():
            continue
        if str(entry) in recorded:
            continue
        note = reason_file(entry)
        stamp = (note if note.exists() else entry).stat().st_mtime
        if now - stamp >= grace_s:
            found.append(entry)
    return found
