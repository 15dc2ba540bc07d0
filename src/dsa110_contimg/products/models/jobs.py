"""Jobs, batches and their items, and the event stream."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dsa110_contimg.products.models.base import Base, _state, utcnow
from dsa110_contimg.products.models.states import JobStatus


class Job(Base):
    """One unit of work: a pipeline stage, or a batch of them (``job_type='batch'``)."""

    __tablename__ = "jobs"
    __table_args__ = (
        sa.Index("ix_jobs_status_created", "status", "created_at"),
        sa.Index("ix_jobs_created_id", "created_at", "id"),
        sa.UniqueConstraint("requested_by", "idempotency_key", name="uq_jobs_idempotency"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    job_type: Mapped[str] = mapped_column(sa.String(32), index=True)
    status: Mapped[JobStatus] = mapped_column(
        _state(JobStatus, "job_status"), default=JobStatus.PENDING
    )
    parent_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("jobs.id", ondelete="CASCADE"), index=True
    )
    group_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("observation_groups.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    duration_s: Mapped[float | None] = mapped_column(sa.Float)
    progress: Mapped[float | None] = mapped_column(sa.Float, doc="0..1")
    attempt: Mapped[int] = mapped_column(default=1)
    params: Mapped[dict[str, Any] | None]
    inputs: Mapped[dict[str, Any] | None] = mapped_column(doc="paths with sizes/mtimes/checksums")
    outputs: Mapped[dict[str, Any] | None]
    software_version: Mapped[str | None] = mapped_column(sa.String(64))
    host: Mapped[str | None] = mapped_column(sa.String(255))
    log_path: Mapped[str | None] = mapped_column(sa.String(1024))
    error: Mapped[str | None] = mapped_column(sa.Text)
    requested_by: Mapped[str | None] = mapped_column(sa.String(64))
    idempotency_key: Mapped[str | None] = mapped_column(
        sa.String(128), doc="The Idempotency-Key of the API request that created the batch"
    )
    request_digest: Mapped[str | None] = mapped_column(
        sa.String(64), doc="SHA-256 of that request (operation and body), to spot a reused key"
    )
    worker_pid: Mapped[int | None] = mapped_column(
        doc="Process id of the pipeline process running the job (on ``host``)"
    )
    child_pgid: Mapped[int | None] = mapped_column(
        doc="Process group of the external program (WSClean, CASA) the job runs now"
    )
    log_purged_at: Mapped[dt.datetime | None] = mapped_column(
        doc="When the storage lifecycle removed the job's log file (the row stays)"
    )

    parent: Mapped[Job | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Job]] = relationship(
        back_populates="parent", cascade="all, delete", passive_deletes=True
    )
    items: Mapped[list[BatchItem]] = relationship(
        back_populates="batch",
        foreign_keys="BatchItem.batch_id",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="BatchItem.position",
    )


class BatchItem(Base):
    """One item of a batch job: a group, MS or stage, with its own job when started."""

    __tablename__ = "batch_items"
    __table_args__ = (sa.UniqueConstraint("batch_id", "position", name="uq_batch_items_position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(sa.ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    item_type: Mapped[str] = mapped_column(sa.String(32), doc="group, ms, image, stage")
    item_key: Mapped[str] = mapped_column(sa.String(1024))
    status: Mapped[JobStatus] = mapped_column(
        _state(JobStatus, "batch_item_status"), default=JobStatus.PENDING
    )
    job_id: Mapped[int | None] = mapped_column(sa.ForeignKey("jobs.id", ondelete="SET NULL"))
    error: Mapped[str | None] = mapped_column(sa.Text)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    batch: Mapped[Job] = relationship(back_populates="items", foreign_keys=[batch_id])
    job: Mapped[Job | None] = relationship(foreign_keys=[job_id])


class Event(Base):
    """An event published by a pipeline process for live subscribers (cross-process)."""

    __tablename__ = "events"
    __table_args__ = (sa.Index("ix_events_topic_id", "topic", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    topic: Mapped[str] = mapped_column(sa.String(128))
    kind: Mapped[str] = mapped_column(sa.String(64))
    payload: Mapped[dict[str, Any] | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
