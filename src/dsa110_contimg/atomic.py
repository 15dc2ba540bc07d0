"""Products appear complete or not at all: write under a temporary name, then rename.

Every product (MS, calibration table, image and its WSClean working folder,
preview, mosaic, quarantined file, simulated UVH5 file) is written under one
temporary name in the folder of its final name, ``.<name>.<8 hex>.tmp``, and
renamed into place only when complete. A crash therefore leaves only names of
that one form, which :func:`find_partials` finds (the pipeline's
``recover()`` removes them) and the ingest index ignores (dot-names).

:func:`atomic_output` is the context manager for one product (a file or a
folder such as a casacore table); :func:`scratch_folder` is a working folder
of the same name form that is always removed (the imaging stage's WSClean
folder, whose files are published one by one with :func:`publish`).
"""

from __future__ import annotations

import errno
import logging
import os
import re
import shutil
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from dsa110_contimg.errors import ProductExistsError

log = logging.getLogger(__name__)

PARTIAL_PATTERN = re.compile(r"^\..+\.[0-9a-f]{8,32}\.tmp$")
"""Names of partial outputs: ``.<final name>.<hex>.tmp``."""

# errors after which os.link cannot be used for a no-clobber publish
_NO_LINK = {errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK}


def partial_path(final: str | Path) -> Path:
    """A fresh temporary path for ``final``: ``.<name>.<8 hex>.tmp`` in the same folder."""
    final = Path(final)
    return final.with_name(f".{final.name}.{uuid.uuid4().hex[:8]}.tmp")


def is_partial(path: str | Path) -> bool:
    """Whether ``path`` is named as a partial output."""
    return PARTIAL_PATTERN.match(Path(path).name) is not None


def discard(path: str | Path) -> None:
    """Remove a file or folder tree, if there (a partial output)."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def fsync_path(path: str | Path) -> None:
    """Flush one file or folder to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: str | Path) -> None:
    """Flush a file, or every file and folder under a folder (folders last)."""
    if not Path(root).is_dir():
        fsync_path(root)
        return
    for folder, _, names in os.walk(root, topdown=False):
        for name in names:
            fsync_path(Path(folder) / name)
        fsync_path(folder)


def publish(
    tmp: str | Path, final: str | Path, *, overwrite: bool = False, durable: bool = False
) -> Path:
    """Rename a complete ``tmp`` (file or folder) to ``final``.

    Parameters
    ----------
    tmp
        The complete output, in the folder of ``final``.
    final
        Its final name.
    overwrite
        Replace an existing ``final``. A file is replaced atomically; a
        folder is first renamed aside (to a partial name) and removed after,
        so ``final`` names the old or the new product at every instant.
    durable
        fsync ``tmp`` (every file in it) before the rename and the folder
        after it, so ``final`` never names bytes not yet on disk.

    Raises
    ------
    ProductExistsError
        If ``final`` exists and ``overwrite`` is false (nothing is replaced).
    """
    tmp, final = Path(tmp), Path(final)
    if durable:
        fsync_tree(tmp)
    if tmp.is_dir():
        _publish_folder(tmp, final, overwrite)
    elif overwrite:
        os.replace(tmp, final)
    else:
        _publish_file_no_clobber(tmp, final)
    if durable:
        fsync_path(final.parent)
    return final


def _exists_error(final: Path) -> ProductExistsError:
    return ProductExistsError(f"{final} exists", hint="remove it or ask to overwrite it")


def _publish_file_no_clobber(tmp: Path, final: Path) -> None:
    try:
        os.link(tmp, final)  # atomic; fails if final exists
    except FileExistsError:
        raise _exists_error(final) from None
    except OSError as exc:
        if exc.errno not in _NO_LINK:
            raise
        if final.exists() or final.is_symlink():
            raise _exists_error(final) from exc
        os.rename(tmp, final)
        return
    os.unlink(tmp)


def _publish_folder(tmp: Path, final: Path, overwrite: bool) -> None:
    if not (final.exists() or final.is_symlink()):
        try:
            os.rename(tmp, final)  # fails on a non-empty folder made meanwhile
            return
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
                raise
    if not overwrite:
        raise _exists_error(final)
    old = partial_path(final)
    os.rename(final, old)
    os.rename(tmp, final)
    discard(old)


@contextmanager
def atomic_output(
    final: str | Path,
    *,
    overwrite: bool = False,
    durable: bool = False,
    mkdir: bool = False,
) -> Iterator[Path]:
    """Write one product under a temporary name and rename it into place on success.

    Yields the temporary path (``.<name>.<hex>.tmp`` beside ``final``, not
    yet created unless ``mkdir``) for the caller to write a file or folder
    (a casacore table, a FITS or PNG file) at. On a clean exit it is
    published with :func:`publish`; on an exception it is removed and the
    exception re-raised, leaving ``final`` as it was.

    Parameters
    ----------
    final
        The product's final path (its folder must exist).
    overwrite, durable
        As in :func:`publish`.
    mkdir
        Create the temporary path as an empty folder.

    Raises
    ------
    ProductExistsError
        If ``final`` exists and ``overwrite`` is false (checked before the
        work as well as at the rename).
    FileNotFoundError
        If the block made nothing at the temporary path.
    """
    final = Path(final)
    if not overwrite and (final.exists() or final.is_symlink()):
        raise _exists_error(final)
    tmp = partial_path(final)
    if mkdir:
        tmp.mkdir()
    try:
        yield tmp
        if not (tmp.exists() or tmp.is_symlink()):
            raise FileNotFoundError(errno.ENOENT, "nothing was written", str(tmp))
        publish(tmp, final, overwrite=overwrite, durable=durable)
    except BaseException:
        discard(tmp)
        raise


@contextmanager
def scratch_folder(beside: str | Path) -> Iterator[Path]:
    """A working folder named as a partial of ``beside``, removed on exit however it ends."""
    work = partial_path(beside)
    work.mkdir()
    try:
        yield work
    finally:
        discard(work)


def find_partials(roots: Iterable[str | Path]) -> list[Path]:
    """Every partial output under ``roots``, at any depth (not looking inside a partial)."""
    found: list[Path] = []
    for root in roots:
        root = Path(root)
        if not root.is_dir():
            continue
        for folder, dirs, files in os.walk(root):
            for name in [d for d in dirs if PARTIAL_PATTERN.match(d)]:
                found.append(Path(folder) / name)
                dirs.remove(name)
            found += [Path(folder) / n for n in files if PARTIAL_PATTERN.match(n)]
    return sorted(found)
