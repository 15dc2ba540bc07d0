"""recover() removes every partial output, at any depth, and nothing registered."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from casacore import tables

from dsa110_contimg.atomic import find_partials, is_partial, partial_path
from dsa110_contimg.conversion.convert import convert_group
from dsa110_contimg.pipeline.runner import product_folders, recover
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products import session_scope


def _snapshot(roots) -> dict[str, tuple[int, int]]:
    """Size and mtime of every file under ``roots`` that is not, or is not in, a partial."""
    found = {}
    for root in roots:
        for path in Path(root).rglob("*"):
            if path.is_file() and not any(is_partial(p) for p in (path, *path.parents)):
                stat = path.stat()
                found[str(path)] = (stat.st_size, stat.st_mtime_ns)
    return found


def _kill_conversion_mid_write(files: list[Path], out: Path) -> Path:
    """Run the real converter in a subprocess, slowed per integration; SIGKILL it mid-MS."""
    code = (
        "import sys, time\n"
        "from dsa110_contimg.conversion.convert import convert_group\n"
        "convert_group(sys.argv[2:], sys.argv[1], progress=lambda n: time.sleep(0.3))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(out), *map(str, files)])
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            partials = [
                p for p in find_partials([out.parent]) if p.name.startswith(f".{out.name}.")
            ]
            # the DATA column's file exists once the first integration is being written
            if partials and any(partials[0].glob("table.f*_TSM0")):
                break
            assert proc.poll() is None, "the converter ended before it could be killed"
            time.sleep(0.05)
        else:
            raise AssertionError("no partial MS appeared")
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not out.exists()
    return partials[0]


def test_recover_finds_every_partial(pipeline_env) -> None:
    settings, factory, groups, _ = pipeline_env
    sim_incoming = _sim_incoming(factory, groups)

    # a registered, complete product: group 1's MS
    done_ms = settings.ms_dir / f"{groups[1]}.ms"
    result = convert_group(sim_incoming[groups[1]], done_ms)
    with session_scope(factory) as s:
        repo.register_ms(
            s,
            path=str(done_ms),
            mjd_start=result.mjd_start,
            mjd_mid=result.mjd_mid,
            mjd_end=result.mjd_end,
            group_id=groups[1],
        )
    image_dir = settings.images_dir / groups[1]
    image_dir.mkdir(parents=True)
    (image_dir / f"{groups[1]}-image.fits").write_bytes(b"SIMPLE")
    (settings.quarantine_dir / "bad_sb03.hdf5").write_bytes(b"not hdf5")

    # one real interruption: the converter killed while writing group 0's MS
    partials = [
        _kill_conversion_mid_write(sim_incoming[groups[0]], settings.ms_dir / f"{groups[0]}.ms")
    ]
    # a cal table (casacore folder) left half made, beside the MS and in caltables/
    for final in (done_ms.with_name(done_ms.name + ".b"), settings.caltables_dir / "x.ms.g"):
        table_dir = partial_path(final)
        desc = tables.maketabdesc(tables.makescacoldesc("X", 0.0))
        with tables.table(str(table_dir), desc, nrow=3, ack=False) as t:
            t.putcol("X", np.arange(3.0))
        partials.append(table_dir)
    # an imaging run's WSClean working folder inside the per-group image folder
    work = partial_path(image_dir / f"{groups[1]}.v2")
    work.mkdir()
    (work / f"{groups[1]}.v2-image.fits").write_bytes(b"SIMPLE")
    (work / f"{groups[1]}.v2-dirty.fits").write_bytes(b"SIMPLE")
    partials.append(work)
    # a mosaic file, a quarantine copy and a simulated subband file, each half written
    for final in (
        settings.mosaics_dir / "2026-01-01" / "mosaic.fits",
        settings.quarantine_dir / "bad_sb04.hdf5",
        settings.incoming_dir / "2026-01-01T00:00:00_sb00.hdf5",
    ):
        final.parent.mkdir(parents=True, exist_ok=True)
        partial = partial_path(final)
        partial.write_bytes(b"half")
        partials.append(partial)

    kept = _snapshot(product_folders(settings))
    assert set(find_partials(product_folders(settings))) == set(partials)

    report = recover(settings, factory)

    assert report["partials"] == len(partials) == 7
    assert not any(p.exists() for p in partials)
    assert not find_partials(product_folders(settings))
    assert _snapshot(product_folders(settings)) == kept
    with tables.table(str(done_ms), ack=False) as ms:
        assert ms.nrows() == result.n_rows
    # and a second run finds nothing more
    assert recover(settings, factory)["partials"] == 0


def _sim_incoming(factory, group_ids) -> dict[str, list[Path]]:
    with session_scope(factory) as s:
        return {g: [Path(f.path) for f in repo.files_of_group(s, g)] for g in group_ids}
