"""Integrity rules of the products DB, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from dsa110_contimg.products import make_engine, make_session_factory, session_scope, upgrade
from dsa110_contimg.products.models import (
    BatchItem,
    GroupState,
    Image,
    Job,
    JobStatus,
    MeasurementSet,
    ObservationGroup,
    Photometry,
    Source,
)


@pytest.fixture
def factory(db_url: str) -> Iterator[sessionmaker[Session]]:
    upgrade(db_url)
    engine = make_engine(db_url)
    yield make_session_factory(engine)
    engine.dispose()


def _image(session: Session) -> Image:
    group = ObservationGroup(
        id="2026-11-28T12:00:00",
        start_time=dt.datetime(2026, 11, 28, 12, tzinfo=dt.UTC),
        start_mjd=61007.5,
        dec_deg=54.6,
    )
    ms = MeasurementSet(
        path="/data/ms/2026-11-28T12:00:00.ms",
        group=group,
        mjd_start=61007.5,
        mjd_mid=61007.5018,
        mjd_end=61007.5036,
    )
    image = Image(
        path="/data/images/2026-11-28T12:00:00-image-pb.fits",
        ms=ms,
        image_type="image-pb",
        mjd_obs=61007.5018,
        ra_deg=210.0,
        dec_deg=54.6,
        size_x=2400,
        size_y=2400,
        cell_arcsec=6.0,
        pbcor=True,
    )
    session.add(image)
    session.flush()
    return image


def _source(session: Session, name: str = "J140000+543600") -> Source:
    source = Source(name=name, ra_deg=210.0, dec_deg=54.6, catalog="sim")
    session.add(source)
    session.flush()
    return source


def test_photometry_cannot_point_at_a_missing_image(factory: sessionmaker[Session]) -> None:
    with pytest.raises(sa.exc.IntegrityError):
        with session_scope(factory) as session:
            source = _source(session)
            session.add(
                Photometry(
                    source_id=source.id, image_id=9999, mjd=61007.5, flux_jy=1.0, flux_err_jy=0.1
                )
            )


def test_deleting_a_measured_image_is_refused(factory: sessionmaker[Session]) -> None:
    """Measurements are science results: an image with them is not deleted silently."""
    with session_scope(factory) as session:
        image, source = _image(session), _source(session)
        session.add(
            Photometry(source=source, image=image, mjd=61007.5, flux_jy=1.0, flux_err_jy=0.1)
        )
        image_id = image.id
    with pytest.raises(sa.exc.IntegrityError):
        with session_scope(factory) as session:
            session.execute(sa.delete(Image).where(Image.id == image_id))
    with session_scope(factory) as session:
        assert session.get(Image, image_id) is not None
        # once its measurements are removed, the image can go
        session.execute(sa.delete(Photometry).where(Photometry.image_id == image_id))
        session.execute(sa.delete(Image).where(Image.id == image_id))
    with session_scope(factory) as session:
        assert session.get(Image, image_id) is None


def test_deleting_a_source_cascades_to_its_photometry(factory: sessionmaker[Session]) -> None:
    with session_scope(factory) as session:
        image, source = _image(session), _source(session)
        session.add(
            Photometry(source=source, image=image, mjd=61007.5, flux_jy=1.0, flux_err_jy=0.1)
        )
        source_id = source.id
    with session_scope(factory) as session:
        session.execute(sa.delete(Source).where(Source.id == source_id))
    with session_scope(factory) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Photometry)) == 0


def test_one_measurement_per_source_and_image(factory: sessionmaker[Session]) -> None:
    with pytest.raises(sa.exc.IntegrityError):
        with session_scope(factory) as session:
            image, source = _image(session), _source(session)
            for _ in range(2):
                session.add(
                    Photometry(
                        source=source, image=image, mjd=61007.5, flux_jy=1.0, flux_err_jy=0.1
                    )
                )
            session.flush()


def test_states_are_checked_by_the_database(factory: sessionmaker[Session]) -> None:
    with session_scope(factory) as session:
        _image(session)
    with pytest.raises(sa.exc.IntegrityError):
        with session_scope(factory) as session:
            session.execute(sa.text("UPDATE observation_groups SET state = 'bogus'"))
    with session_scope(factory) as session:
        group = session.scalars(sa.select(ObservationGroup)).one()
        assert group.state is GroupState.COLLECTING


def test_times_come_back_in_utc(factory: sessionmaker[Session]) -> None:
    when = dt.datetime(2026, 11, 28, 5, 0, tzinfo=dt.timezone(dt.timedelta(hours=-8)))
    with session_scope(factory) as session:
        session.add(Job(run_id="r1", job_type="convert", started_at=when))
    with session_scope(factory) as session:
        job = session.scalars(sa.select(Job)).one()
        assert job.started_at == when
        assert job.started_at.utcoffset() == dt.timedelta(0)
        assert job.created_at.tzinfo is not None


def test_batch_items_go_with_their_batch(factory: sessionmaker[Session]) -> None:
    with session_scope(factory) as session:
        batch = Job(run_id="batch-1", job_type="batch")
        child = Job(run_id="child-1", job_type="convert", parent=batch, status=JobStatus.SUCCEEDED)
        batch.items = [
            BatchItem(position=0, item_type="stage", item_key="convert", job=child),
            BatchItem(position=1, item_type="stage", item_key="image"),
        ]
        session.add(batch)
    with session_scope(factory) as session:
        batch = session.scalars(sa.select(Job).where(Job.run_id == "batch-1")).one()
        assert [item.item_key for item in batch.items] == ["convert", "image"]
        assert batch.children[0].run_id == "child-1"
        session.delete(batch)
    with session_scope(factory) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(BatchItem)) == 0
        assert session.scalar(sa.select(sa.func.count()).select_from(Job)) == 0
