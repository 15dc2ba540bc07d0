"""Quarantine moves: never overwriting, never losing a file, never leaving a partial copy."""

from __future__ import annotations

import errno
import os
import shutil

import pytest

from dsa110_contimg.atomic import find_partials
from dsa110_contimg.ingest.quarantine import move_to_quarantine, read_reason


@pytest.fixture
def no_hard_links(monkeypatch):
    """A quarantine folder on another file system: os.link fails as it would there."""

    def link(src, dst, *args, **kwargs):
        raise OSError(errno.EXDEV, "Invalid cross-device link", str(src))

    monkeypatch.setattr(os, "link", link)


@pytest.mark.usefixtures("no_hard_links")
def test_cross_device_move_copies_then_renames(tmp_path) -> None:
    incoming, folder = tmp_path / "incoming", tmp_path / "quarantine"
    incoming.mkdir()
    taken = folder / "2026-01-01T00:00:00_sb03.hdf5"
    folder.mkdir()
    taken.write_bytes(b"an earlier one")
    src = incoming / taken.name
    src.write_bytes(b"x" * 4096)

    dest = move_to_quarantine(src, folder, "truncated", now=0.0)

    assert dest == folder / "2026-01-01T00:00:00_sb03.1.hdf5"
    assert dest.read_bytes() == b"x" * 4096 and not src.exists()
    assert taken.read_bytes() == b"an earlier one"
    assert read_reason(dest) == "truncated"
    assert not find_partials([folder])


def test_a_failed_copy_leaves_the_file_in_place(tmp_path, monkeypatch, no_hard_links) -> None:
    def broken_copy(src, dst, *args, **kwargs):
        with open(dst, "wb") as fh:
            fh.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device", str(dst))

    monkeypatch.setattr(shutil, "copy2", broken_copy)
    src = tmp_path / "2026-01-01T00:00:00_sb03.hdf5"
    src.write_bytes(b"data")
    folder = tmp_path / "quarantine"
    with pytest.raises(OSError, match="No space"):
        move_to_quarantine(src, folder, "truncated", now=0.0)
    assert src.read_bytes() == b"data"
    assert list(folder.iterdir()) == []  # no partial copy, no orphan reason file
