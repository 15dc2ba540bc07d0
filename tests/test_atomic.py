"""atomic_output(): a product appears complete under its final name or not at all."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from casacore import tables

from dsa110_contimg.atomic import (
    atomic_output,
    find_partials,
    is_partial,
    partial_path,
    publish,
    scratch_folder,
)
from dsa110_contimg.errors import ProductExistsError
from dsa110_contimg.imaging.preview import write_previews


def _write_table(path, values) -> None:
    desc = tables.maketabdesc(tables.makescacoldesc("X", 0.0))
    with tables.table(str(path), desc, nrow=len(values), ack=False) as t:
        t.putcol("X", np.asarray(values, float))


def _read_table(path) -> list[float]:
    with tables.table(str(path), ack=False) as t:
        return list(t.getcol("X"))


def _fits_image(path) -> None:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    wcs.wcs.crval = [180.0, 40.0]
    wcs.wcs.cdelt = [-1 / 3600, 1 / 3600]
    wcs.wcs.crpix = [16, 16]
    data = np.random.default_rng(1).normal(size=(32, 32)).astype(np.float32)
    fits.writeto(path, data, wcs.to_header())


def test_one_naming_scheme(tmp_path) -> None:
    p = partial_path(tmp_path / "group.ms")
    assert p.parent == tmp_path and p.name.startswith(".group.ms.") and p.suffix == ".tmp"
    assert is_partial(p) and p != partial_path(tmp_path / "group.ms")
    for name in ("group.ms", ".hidden", ".group.ms.tmp", ".x.notahex.tmp", "x.0123abcd.tmp"):
        assert not is_partial(tmp_path / name), name


def test_casacore_table_is_published_complete(tmp_path) -> None:
    final = tmp_path / "x.g"
    with atomic_output(final, durable=True) as tmp:
        assert is_partial(tmp) and not tmp.exists()
        _write_table(tmp, [1, 2, 3])
        assert not final.exists()  # nothing under the final name while writing
    assert _read_table(final) == [1, 2, 3]
    assert list(tmp_path.iterdir()) == [final]


def test_failure_leaves_the_old_product_and_no_partial(tmp_path) -> None:
    final = tmp_path / "x.g"
    _write_table(final, [1.0])
    with pytest.raises(RuntimeError, match="solver died"):
        with atomic_output(final, overwrite=True) as tmp:
            _write_table(tmp, [9, 9])
            raise RuntimeError("solver died")
    assert _read_table(final) == [1.0]
    assert list(tmp_path.iterdir()) == [final]


def test_overwrite_replaces_a_folder_product(tmp_path) -> None:
    final = tmp_path / "x.g"
    _write_table(final, [1.0])
    with atomic_output(final, overwrite=True) as tmp:
        _write_table(tmp, [2.0, 3.0])
    assert _read_table(final) == [2.0, 3.0]
    assert list(tmp_path.iterdir()) == [final]  # the old one, renamed aside, is gone


def test_refuses_an_existing_product(tmp_path) -> None:
    final = tmp_path / "a.fits"
    final.write_bytes(b"theirs")
    with pytest.raises(ProductExistsError):
        with atomic_output(final):
            pytest.fail("the block must not run")
    assert final.read_bytes() == b"theirs"


def test_refuses_a_product_made_meanwhile(tmp_path) -> None:
    """Another writer publishes first: ours is dropped, theirs is kept (file and folder)."""
    for final, make in (
        (tmp_path / "a.fits", lambda p: p.write_bytes(b"ours")),
        (tmp_path / "b.ms", lambda p: _write_table(p, [5.0])),
    ):
        with pytest.raises(ProductExistsError):
            with atomic_output(final) as tmp:
                make(tmp)
                if final.suffix == ".ms":
                    _write_table(final, [7.0])
                else:
                    final.write_bytes(b"theirs")
        assert not find_partials([tmp_path])
    assert (tmp_path / "a.fits").read_bytes() == b"theirs"
    assert _read_table(tmp_path / "b.ms") == [7.0]


def test_fits_and_png_products(tmp_path) -> None:
    image = tmp_path / "m.fits"
    with atomic_output(image) as tmp:
        _fits_image(tmp)
    with atomic_output(tmp_path / "m.png") as png, atomic_output(tmp_path / "m-t.png") as thumb:
        write_previews(image, png, thumb, title="m")
    for name in ("m.png", "m-t.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert fits.getdata(image).shape == (32, 32)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m-t.png", "m.fits", "m.png"]


def test_nothing_written_is_an_error(tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        with atomic_output(tmp_path / "a.fits"):
            pass
    assert not list(tmp_path.iterdir())


def test_scratch_folder_and_publish(tmp_path) -> None:
    with scratch_folder(tmp_path / "x") as work:
        assert work.is_dir() and is_partial(work)
        (work / "x-image.fits").write_bytes(b"img")
        (work / "x-image-0000.fits").write_bytes(b"sub-band, left behind")
        publish(work / "x-image.fits", tmp_path / "x-image.fits")
        (work / "x-psf.fits").write_bytes(b"psf")
        (tmp_path / "x-psf.fits").write_bytes(b"there")
        with pytest.raises(ProductExistsError):
            publish(work / "x-psf.fits", tmp_path / "x-psf.fits")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x-image.fits", "x-psf.fits"]
    assert (tmp_path / "x-psf.fits").read_bytes() == b"there"


def test_find_partials_at_any_depth(tmp_path) -> None:
    deep = tmp_path / "images" / "2026-01-01T00:00:00"
    deep.mkdir(parents=True)
    work = partial_path(deep / "g")
    work.mkdir()
    inner = partial_path(work / "inside")  # inside a partial: removed with it, not listed
    inner.write_bytes(b"")
    top = partial_path(tmp_path / "g.ms")
    top.write_bytes(b"")
    (deep / "g-image.fits").write_bytes(b"")
    (deep / ".keep").write_bytes(b"")
    assert find_partials([tmp_path, tmp_path / "missing"]) == sorted([work, top])
