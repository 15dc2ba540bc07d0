"""Reprocessing: mark a group's products from a named step as superseded, so the steps redo them.

The steps skip what is registered and usable; reprocessing from a step
makes the products of that step and the later ones unusable, never deleted:

* ``convert``: the MS becomes ``superseded`` (its file stays; the new MS is
  written beside it as ``<group>.r<n>.ms``, ``r`` for the n-th reduction, so
  its images' names never meet the old MS's image versions ``<group>.v<n>-*``),
  and so do its images;
* ``flag``: the flagger runs again on the MS (``flag_fraction`` cleared; it
  keeps the flags already in the MS and adds its own, so a fresh start from
  the raw data is ``convert``), then everything after;
* ``calibrate``: the MS is calibrated again with the tables valid now
  (``cal_applied`` cleared; the application rows get the new job), then
  everything after;
* ``image``: the MS's images become ``superseded`` (the next version is made);
* ``photometry``: the measurements of the current images are redone.

The measurements of a superseded image leave the light curves (they are
removed from ``photometry``, with the epoch's normalisation; the image and its
files stay, described, so they can be measured again), and the caller
recomputes the affected sources' metrics.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dsa110_contimg.products.models import (
    CalApplication,
    CalTable,
    CalTableStatus,
    EpochNormalisation,
    Image,
    MeasurementSet,
    MSStage,
    Photometry,
    ProductStatus,
)
from dsa110_contimg.products.repositories.caltables import withdraw_tables_of_ms
from dsa110_contimg.products.repositories.events import publish_event
from dsa110_contimg.products.repositories.query import InvalidQueryError

#: The steps a group can be reprocessed from, in pipeline order.
REPROCESS_STEPS = ("convert", "flag", "calibrate", "image", "photometry")


def check_from_step(step: str) -> str:
    """``step`` if it names a step; :class:`InvalidQueryError` otherwise."""
    if step not in REPROCESS_STEPS:
        raise InvalidQueryError(
            f"unknown step {step!r}: reprocess from one of {', '.join(REPROCESS_STEPS)}"
        )
    return step


def new_tables_since_calibration(session: Session, ms_id: int) -> bool:
    """Whether valid tables were registered after the MS was last calibrated."""
    applied = session.scalar(
        sa.select(sa.func.max(CalApplication.applied_at)).where(CalApplication.ms_id == ms_id)
    )
    if applied is None:
        return False
    newer = sa.select(CalTable.id).where(
        CalTable.status == CalTableStatus.VALID, CalTable.created_at > applied
    )
    return session.scalar(newer.limit(1)) is not None


def _withdraw_photometry(session: Session, image_ids: Sequence[int]) -> tuple[int, list[int]]:
    """Remove the measurements of images from the light curves; the sources touched."""
    if not image_ids:
        return 0, []
    where = Photometry.image_id.in_(list(image_ids))
    sources = sorted(set(session.scalars(sa.select(Photometry.source_id).where(where))))
    removed = session.execute(sa.delete(Photometry).where(where)).rowcount or 0
    session.execute(
        sa.delete(EpochNormalisation).where(EpochNormalisation.image_id.in_(list(image_ids)))
    )
    return int(removed), sources


def supersede_from_step(
    session: Session, group_id: str, step: str, *, reason: str
) -> dict[str, object]:
    """Make the group's products of ``step`` and later unusable; what changed.

    Returns ``{"ms_id", "images_superseded", "photometry_withdrawn",
    "cal_tables_withdrawn", "sources"}``: ``sources`` are the source ids whose
    metrics must be recomputed. From ``calibrate`` (or earlier) the tables
    solved on the group's MS are superseded too, so that the group solves again
    (a tile's own gains would otherwise still be valid for it) into new files
    (:func:`~.caltables.next_cal_table_path`); groups that applied them keep
    their record of it.
    """
    check_from_step(step)
    ms = session.scalars(
        sa.select(MeasurementSet).where(
            MeasurementSet.group_id == group_id, MeasurementSet.status == ProductStatus.OK
        )
    ).first()
    out: dict[str, object] = {
        "from_step": step,
        "ms_id": None,
        "images_superseded": [],
        "photometry_withdrawn": 0,
        "cal_tables_withdrawn": [],
        "sources": [],
    }
    if ms is None:
        return out
    out["ms_id"] = ms.id
    images = list(
        session.scalars(
            sa.select(Image).where(Image.ms_id == ms.id, Image.status == ProductStatus.OK)
        )
    )
    image_ids = [i.id for i in images]
    removed, sources = _withdraw_photometry(session, image_ids)
    out["photometry_withdrawn"], out["sources"] = removed, sources
    if step != "photometry":
        for image in images:
            image.status = ProductStatus.SUPERSEDED
        out["images_superseded"] = image_ids
    if step == "convert":
        ms.status = ProductStatus.SUPERSEDED
        ms.note = f"superseded: {reason}"
        out["cal_tables_withdrawn"] = withdraw_tables_of_ms(session, ms.id)
    elif step in ("flag", "calibrate", "image"):
        if step == "flag":
            ms.flag_fraction = None
            ms.stage = MSStage.CONVERTED
        if step in ("flag", "calibrate"):
            ms.cal_applied = False
            out["cal_tables_withdrawn"] = withdraw_tables_of_ms(session, ms.id)
            if step == "calibrate":
                ms.stage = MSStage.FLAGGED
    session.flush()
    publish_event(
        session,
        "group",
        "superseded",
        {
            "group_id": group_id,
            "from_step": step,
            "ms_id": ms.id,
            "images": image_ids if step != "photometry" else [],
            "photometry_withdrawn": removed,
        },
    )
    return out


def next_ms_path(session: Session, path: str) -> str:
    """``path``, or ``<stem>.r<n>.ms`` beside it when ``path`` is registered (a new version)."""
    taken = set(
        session.scalars(
            sa.select(MeasurementSet.path).where(
                MeasurementSet.path.like(path[: -len(".ms")] + "%.ms")
            )
        )
    )
    if path not in taken:
        return path
    n = 2
    while f"{path[: -len('.ms')]}.r{n}.ms" in taken:
        n += 1
    return f"{path[: -len('.ms')]}.r{n}.ms"
