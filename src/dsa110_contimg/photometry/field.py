"""The photometry stage's read phase: what one image's measurement needs, as plain records.

:func:`read_inputs` runs in one short session and returns a
:class:`~dsa110_contimg.photometry.records.FieldInputs`: the image, the
catalog sources in its cone (from the catalog store, each with its
registered ``Source`` record when there is one), the registered sources in
the cone, the known variables, the first clean epochs of the possible
references, and (with blind finding on) the earlier measured images a
back-fill may use. It writes nothing, so SQLite's write lock stays free.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from dsa110_contimg.catalog.naming import format_name
from dsa110_contimg.catalog.store import CatalogStore
from dsa110_contimg.config import Settings
from dsa110_contimg.errors import InputDataError
from dsa110_contimg.photometry.records import (
    DEFAULT_RULES,
    SKIP_CATALOGS,
    EarlierImage,
    FieldInputs,
    ImageRecord,
    ReferenceRules,
    py_value,
)
from dsa110_contimg.products import repositories as repo

log = logging.getLogger(__name__)


def read_inputs(
    session: Session,
    image: Any,
    settings: Settings,
    *,
    catalogs: list[str] | None = None,
    radius_deg: float | None = None,
    blind: bool = False,
    rules: ReferenceRules = DEFAULT_RULES,
) -> FieldInputs:
    """Load what measuring ``image`` needs (no writes).

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session on the products DB, only read.
    image : Image or ImageRecord
        The image to measure.
    settings : Settings
        ``catalog_db``: the catalog store.
    catalogs, radius_deg, blind, rules
        As :func:`~dsa110_contimg.photometry.stage.measure_image`.

    Returns
    -------
    FieldInputs
        With only ``image`` and ``n_measured`` when the image already has
        measurements (it is then skipped).

    Raises
    ------
    InputDataError
        If the image is not primary-beam corrected or its file is missing.
    """
    record = image if isinstance(image, ImageRecord) else ImageRecord.of(image)
    n_measured = repo.count_image_photometry(session, record.id)
    if n_measured:
        return FieldInputs(record, n_measured)
    check_pb_image(record)
    radius = radius_deg if radius_deg is not None else field_radius_deg(record)
    cones = catalog_cones(settings, catalogs, record, radius)
    names = {
        label: [catalog_source_name(label, row) for row in found] for label, found in cones.items()
    }
    registered = repo.sources_named(session, [n for ns in names.values() for n in ns])
    catalog_rows = {
        label: [
            registered.get(name) or {"name": name, **source_fields(label, row)}
            for name, row in zip(names[label], found, strict=True)
        ]
        for label, found in cones.items()
    }
    known = repo.source_records(
        session, repo.cone_source_ids(session, record.ra_deg, record.dec_deg, radius)
    )
    ids = sorted({r["id"] for r in [*registered.values(), *known]})
    inputs = FieldInputs(
        image=record,
        n_measured=0,
        radius_deg=radius,
        catalog_db=str(settings.catalog_db),
        rules=rules,
        cones=cones,
        catalog_rows=catalog_rows,
        known=known,
        variable_ids=set(repo.known_variable_ids(session, ids)),
        history=repo.first_clean_fluxes(
            session,
            possible_references(record, [*registered.values(), *known], rules.radius_deg),
            rules.veto,
            rules.baseline_epochs,
        ),
    )
    if blind:
        inputs.earlier = earlier_images(session, record)
    return inputs


def possible_references(
    image: ImageRecord, records: list[dict[str, Any]], radius_deg: float
) -> list[int]:
    """Ids of the registered catalog sources within ``radius_deg`` of the image centre."""
    records = [r for r in records if (r["catalog"] or "blind") != "blind"]
    if not records:
        return []
    ra = np.array([r["ra_deg"] for r in records], float)
    dec = np.array([r["dec_deg"] for r in records], float)
    sep = repo.angular_separation_deg(ra, dec, image.ra_deg, image.dec_deg)
    return sorted({r["id"] for r, s in zip(records, sep, strict=True) if s <= radius_deg})


def earlier_images(session: Session, image: ImageRecord) -> list[EarlierImage]:
    """Measured pb-corrected images before ``image`` that a back-fill of its sources may use.

    A Dec band of three half-diagonals around the centre: the new sources
    lie within one, and a back-fill looks two further
    (:func:`~dsa110_contimg.photometry.backfill.covering_images` decides).
    """
    margin = 3 * field_radius_deg(image)
    found = repo.measured_images_before(
        session,
        image.mjd_obs,
        exclude_id=image.id,
        dec_min=image.dec_deg - margin,
        dec_max=image.dec_deg + margin,
    )
    return [EarlierImage(ImageRecord.of(other), n.factor, n.factor_err) for other, n in found]


def check_pb_image(image: ImageRecord) -> None:
    """Refuse an image that is not primary-beam corrected or whose file is missing."""
    if not (image.pbcor or image.image_type == "image-pb"):
        raise InputDataError(
            f"image {image.id} ({image.path}) is type {image.image_type!r}, "
            "not primary-beam corrected",
            hint="measure the -image-pb.fits product (pbcor=True)",
        )
    if not Path(image.path).is_file():
        raise InputDataError(f"image {image.id}: file {image.path} is missing")


def field_radius_deg(image: ImageRecord) -> float:
    """Half-diagonal of the image, degrees: a cone that holds every pixel."""
    return 0.5 * float(np.hypot(image.size_x, image.size_y)) * image.cell_arcsec / 3600.0


def catalog_cones(
    settings: Settings, catalogs: list[str] | None, image: ImageRecord, radius_deg: float
) -> dict[str, np.ndarray]:
    """Cone search of each catalog around the image centre (empty if no store)."""
    path = Path(settings.catalog_db)
    if not path.is_file():
        log.warning(
            "image %d: no catalog store at %s; measuring known sources only", image.id, path
        )
        return {}
    with CatalogStore(path) as store:
        names = catalogs or [c for c in store.catalogs() if c not in SKIP_CATALOGS]
        return {name: store.cone(name, image.ra_deg, image.dec_deg, radius_deg) for name in names}


def catalog_source_name(catalog: str, row: np.void) -> str:
    """``Source.name`` of a catalog row: its own name (prefixed by the catalog when bare)."""
    name = str(row["name"]).strip()
    if not name:
        return format_name(float(row["ra_deg"]), float(row["dec_deg"]), prefix=catalog)
    return name if " " in name else f"{catalog} {name}"


def source_fields(catalog: str, row: np.void) -> dict[str, Any]:
    """The ``Source`` columns of a catalog row (fluxes Jy, sizes arcsec; NaN -> None)."""
    return {
        "ra_deg": float(row["ra_deg"]) % 360.0,
        "dec_deg": float(row["dec_deg"]),
        "catalog": catalog,
        "catalog_id": str(row["name"]).strip() or str(int(row["id"])),
        "catalog_flux_jy": py_value(row["flux_mjy"] * 1e-3),
        "catalog_flux_err_jy": py_value(row["flux_err_mjy"] * 1e-3),
        "major_arcsec": py_value(row["major_arcsec"]),
        "minor_arcsec": py_value(row["minor_arcsec"]),
    }
