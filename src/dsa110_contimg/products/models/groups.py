"""Raw data: observation groups and the subband files in them."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dsa110_contimg.products.models.base import Base, _state, _Timestamps
from dsa110_contimg.products.models.states import FileStatus, GroupState

if TYPE_CHECKING:  # relationship targets, resolved by the mapper registry at run time
    from dsa110_contimg.products.models.calibration import MeasurementSet


class ObservationGroup(_Timestamps, Base):
    """The 16 subband files of one 309 s chunk."""

    __tablename__ = "observation_groups"
    __table_args__ = (sa.Index("ix_observation_groups_state_start", "state", "start_mjd"),)

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, doc="Start time, ISO 8601")
    start_time: Mapped[dt.datetime]
    start_mjd: Mapped[float] = mapped_column(sa.Float, index=True)
    dec_deg: Mapped[float | None] = mapped_column(sa.Float, doc="Pointing declination")
    files_present: Mapped[int] = mapped_column(default=0)
    files_expected: Mapped[int] = mapped_column(default=16)
    state: Mapped[GroupState] = mapped_column(
        _state(GroupState, "group_state"), default=GroupState.COLLECTING
    )
    completed_at: Mapped[dt.datetime | None]
    error: Mapped[str | None] = mapped_column(sa.Text)

    files: Mapped[list[RawFile]] = relationship(back_populates="group")
    measurement_sets: Mapped[list[MeasurementSet]] = relationship(back_populates="group")


class RawFile(_Timestamps, Base):
    """One UVH5 subband file seen in the incoming folder."""

    __tablename__ = "raw_files"
    __table_args__ = (sa.CheckConstraint("subband >= 0 AND subband < 16", name="subband_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    path: Mapped[str] = mapped_column(sa.String(1024), unique=True)
    group_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("observation_groups.id", ondelete="SET NULL"), index=True
    )
    subband: Mapped[int]
    start_mjd: Mapped[float | None] = mapped_column(sa.Float)
    end_mjd: Mapped[float | None] = mapped_column(sa.Float)
    n_times: Mapped[int | None]
    dec_deg: Mapped[float | None] = mapped_column(sa.Float)
    freq_min_hz: Mapped[float | None] = mapped_column(sa.Float)
    freq_max_hz: Mapped[float | None] = mapped_column(sa.Float)
    n_antennas: Mapped[int | None]
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger)
    mtime: Mapped[float] = mapped_column(sa.Float, doc="POSIX mtime when indexed")
    checksum: Mapped[str | None] = mapped_column(sa.String(128))
    status: Mapped[FileStatus] = mapped_column(
        _state(FileStatus, "file_status"), default=FileStatus.INDEXED
    )
    quarantine_reason: Mapped[str | None] = mapped_column(sa.Text)
    purged_at: Mapped[dt.datetime | None] = mapped_column(
        doc="When the storage lifecycle removed the file (status ``purged``)"
    )

    group: Mapped[ObservationGroup | None] = relationship(back_populates="files")
