"""The products database: every raw file, group, product and job.

This package and the Alembic migrations beside it are the one source of truth
for the schema, one module per concern (:mod:`.groups` raw data,
:mod:`.calibration` Measurement Sets and tables, :mod:`.images` images and
mosaics, :mod:`.sources` sources to candidates, :mod:`.jobs` jobs and events,
:mod:`.users`, :mod:`.beam` beam models; :mod:`.states` the enumerations,
:mod:`.base` the declarative base). Everything is importable from here.
Conventions:

* times of events (``created_at``, ``started_at``...) are timezone-aware UTC
  datetimes; science times are MJD (UTC scale) floats named ``*_mjd``;
* angles are degrees (``ra_deg``, ``dec_deg``), fluxes janskys (``*_jy``),
  frequencies hertz (``*_hz``), sizes bytes;
* states are short lower-case strings from the ``StrEnum`` classes in
  :mod:`.states`, stored as VARCHAR with a CHECK constraint (the same on
  SQLite and PostgreSQL);
* deleting is deliberate: products that others were derived from cannot be
  deleted while their derivatives exist (``RESTRICT``), while purely
  dependent rows (a file's group membership, a batch's items) go with their
  parent (``CASCADE``). See each foreign key.
"""

from __future__ import annotations

from dsa110_contimg.products.models.base import (
    NAMING_CONVENTION,
    Base,
    UTCDateTime,
    utcnow,
)
from dsa110_contimg.products.models.beam import (
    BeamModel,
    BeamModelKind,
)
from dsa110_contimg.products.models.calibration import (
    CalApplication,
    CalTable,
    MeasurementSet,
)
from dsa110_contimg.products.models.groups import (
    ObservationGroup,
    RawFile,
)
from dsa110_contimg.products.models.images import (
    Image,
    Mosaic,
    MosaicTile,
)
from dsa110_contimg.products.models.jobs import (
    BatchItem,
    Event,
    Job,
)
from dsa110_contimg.products.models.sources import (
    LIGHT_CURVE_COLUMNS,
    Annotation,
    Candidate,
    EpochNormalisation,
    Photometry,
    Source,
    VariabilityMetrics,
)
from dsa110_contimg.products.models.states import (
    AnnotationKind,
    AnnotationTarget,
    CalTableStatus,
    CalTableType,
    CandidateKind,
    CandidateStatus,
    FileStatus,
    GroupState,
    ImageRating,
    JobStatus,
    MSStage,
    ProductStatus,
    QAGrade,
    UserRole,
)
from dsa110_contimg.products.models.users import (
    User,
    UserSession,
)

__all__ = [
    "Annotation",
    "AnnotationKind",
    "AnnotationTarget",
    "Base",
    "BatchItem",
    "BeamModel",
    "BeamModelKind",
    "CalApplication",
    "CalTable",
    "CalTableStatus",
    "CalTableType",
    "Candidate",
    "CandidateKind",
    "CandidateStatus",
    "EpochNormalisation",
    "Event",
    "FileStatus",
    "GroupState",
    "Image",
    "ImageRating",
    "Job",
    "JobStatus",
    "LIGHT_CURVE_COLUMNS",
    "MSStage",
    "MeasurementSet",
    "Mosaic",
    "MosaicTile",
    "NAMING_CONVENTION",
    "ObservationGroup",
    "Photometry",
    "ProductStatus",
    "QAGrade",
    "RawFile",
    "Source",
    "UTCDateTime",
    "User",
    "UserRole",
    "UserSession",
    "VariabilityMetrics",
    "utcnow",
]
