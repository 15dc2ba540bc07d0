"""The states and kinds of the rows: short lower-case strings (VARCHAR + CHECK)."""

from __future__ import annotations

import enum


class FileStatus(enum.StrEnum):
    INDEXED = "indexed"
    CONVERTED = "converted"
    QUARANTINED = "quarantined"
    PURGED = "purged"


class GroupState(enum.StrEnum):
    COLLECTING = "collecting"
    COMPLETE = "complete"
    INCOMPLETE = "incomplete"
    QUEUED = "queued"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"


class MSStage(enum.StrEnum):
    """How far an MS has got; ``waiting_cal``: flagged, but no valid tables cover it yet."""

    CONVERTED = "converted"
    FLAGGED = "flagged"
    WAITING_CAL = "waiting_cal"
    CALIBRATED = "calibrated"
    IMAGED = "imaged"


class ProductStatus(enum.StrEnum):
    OK = "ok"
    FAILED = "failed"
    SUPERSEDED = "superseded"
    PURGED = "purged"
    """Its files were removed by the storage lifecycle; the row (metadata, provenance) stays."""


class CalTableType(enum.StrEnum):
    BANDPASS = "bandpass"
    GAIN = "gain"
    PHASE = "phase"
    DELAY = "delay"


class CalTableStatus(enum.StrEnum):
    VALID = "valid"
    EXPIRED = "expired"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"
    PURGED = "purged"


class QAGrade(enum.StrEnum):
    GOOD = "good"
    WARN = "warn"
    FAIL = "fail"


class CandidateKind(enum.StrEnum):
    VARIABLE = "variable"
    ESE = "ese"
    NEW_SOURCE = "new_source"


class CandidateStatus(enum.StrEnum):
    NEW = "new"
    CONFIRMED = "confirmed"
    DISMISSED = "dismissed"
    NEEDS_FOLLOW_UP = "needs_follow_up"


class ImageRating(enum.StrEnum):
    """An operator's rating of an image: a ``bad`` one is left out of every light curve."""

    GOOD = "good"
    BAD = "bad"


class AnnotationTarget(enum.StrEnum):
    """What an :class:`Annotation` is about."""

    CANDIDATE = "candidate"
    SOURCE = "source"
    IMAGE = "image"


class AnnotationKind(enum.StrEnum):
    """One step of the vetting history (see :class:`Annotation`)."""

    VERDICT = "verdict"
    TAG = "tag"
    UNTAG = "untag"
    COMMENT = "comment"
    COMMENT_EDIT = "comment_edit"
    RATING = "rating"


class UserRole(enum.StrEnum):
    """What a named user may do: read, make the pipeline's writes, or also manage users."""

    READER = "reader"
    OPERATOR = "operator"
    ADMIN = "admin"


class JobStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
